// The layer map holds: a new circle between service folders, a deep import into another feature,
// a service reaching for the front ends or electron, and the store or the contract reaching up all
// fail `npm run lint`; the imports the code makes today pass.

import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import layers, { LAYERS, layerOf } from '../../eslint-rules/layers.js';
import { at, tester } from './rule-tester';


const TRAINING = 'src/main/services/training/example.ts';
const BACKBONES = 'src/main/services/backbones/example.ts';
const EVALUATION = 'src/main/services/evaluation/example.ts';
const EXPORT = 'src/main/services/export/example.ts';
const INFERENCE = 'src/main/services/inference/example.ts';
const ONNX = 'src/main/services/onnx/example.ts';
const ROOT_FILE = 'src/main/services/example.ts';

const ok = (file: string, code: string) => ({ filename: at(file), code });
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
// What a message must say, as a pattern: the layer that imports, and the one it may not reach.
const said = (messageId: string, data: { from?: string; to?: string; folder?: string }) => {
  const from = data.from ? escape(data.from) : '\\S+';
  const to = data.to ? escape(data.to) : '\\S+';
  if (messageId === 'layer') return new RegExp(`^${from} may not import ${to}: '`);
  if (messageId === 'entry') return new RegExp(`^${from} may import ${to} only through its index\\.ts: '[^']+' → '${data.folder ? escape(data.folder) : '[^\']+'}'`);
  if (messageId === 'packages') return new RegExp(`^${from} imports no package: '`);
  throw new Error(`no pattern for ${messageId}`);
};
const bad = (file: string, code: string, messageId: string, data?: { from?: string; to?: string; folder?: string }) => ({
  filename: at(file),
  code,
  errors: [data ? { message: said(messageId, data) } : { messageId }],
});

describe('loupe/layers', () => {
  tester.run('layers', layers, {
    valid: [
      // Feature folders one way, each through its index.ts.
      ok(TRAINING, "import { ensureFeatures } from '../backbones';"),
      ok(TRAINING, "import type { FeaturePack } from '../backbones/index';"),
      ok(EXPORT, "import { trainReplicas } from '../training';\nimport { loadRegistry } from '../backbones';"),
      ok(EVALUATION, "import type { ReplicaInput } from '../training';"),
      ok(INFERENCE, "export { runModel } from '../export';\nimport { runImport } from '../import';"),
      // Inside a feature, any file.
      ok(TRAINING, "import { makePlan } from './plan';\nimport { replicaLoop } from './loop/replica';"),
      // Neutral homes by file, from every service folder and the root files.
      ok(TRAINING, "import { GraphBuilder } from '../onnx/graph-builder';\nimport { packPixels } from '../pixels/pixel-pack';\nimport { seeded } from '../rng';"),
      ok(ROOT_FILE, "import { seeded } from './rng';\nimport { addClass } from './classes';\nimport { decodeReason } from './pixels/decode-reasons';"),
      ok('src/main/services/import/example.ts', "import { addClass } from '../classes';"),
      // What every service may use below it.
      ok(
        BACKBONES,
        "import type { Project } from '../../store/project';\nimport { Jobs } from '../../jobs/jobs';\nimport { spawnWorker } from '../../workers/spawn';\nimport type { TrainConfig } from '../../../shared/types';\nimport { loupeVersion } from '../../version';",
      ),
      ok(ONNX, "import { LoupeError } from '../../../shared/errors';\nimport fs from 'node:fs';"),
      // The front ends and worker entries call services by file.
      ok('src/main/api/example.ts', "import { planTraining } from '../services/training/train';\nimport { Jobs } from '../jobs/jobs';"),
      ok('src/main/cli/commands/example.ts', "import { createApi } from '../../api/create-api';\nimport { runModel } from '../../services/export/run-model';"),
      ok('src/main/transport/example.ts', "import type { Studio } from '../api/studio';\nimport { openProject } from '../store/project';"),
      ok('src/main/workers/example.worker.ts', "import { runReplica } from '../services/training/replica';\nimport { quietTf } from '../services/tfjs/quiet-tf';"),
      // Only the desktop shell, the app's entry and preload touch electron.
      ok('src/main/desktop/example.ts', "import { app } from 'electron';\nimport { createApi } from '../api/create-api';"),
      ok('src/main/index.ts', "import { app } from 'electron';\nimport { installMenu } from './desktop/menu';"),
      ok('src/preload/index.ts', "import { contextBridge } from 'electron';\nimport type { Bridge } from '../shared/bridge';"),
      // The renderer reaches the core through the contract only.
      ok('src/renderer/src/lib/example.ts', "import type { JobInfo } from '../../../shared/types';\nimport { mount } from 'svelte';\nimport { route } from './router.svelte';"),
      ok('src/main/store/example.ts', "import { LoupeError } from '../../shared/errors';\nimport { migrations } from './migrations';"),
      ok('src/shared/example.ts', "import type { JobInfo } from './types';"),
      ok('src/renderer/src/example.ts', "import workerUrl from './lib/upload?worker&url';"),
      // An import whose target is computed cannot be checked.
      ok(BACKBONES, 'export const load = (name: string) => import(`../${name}`);'),
    ],
    invalid: [
      // A new circle: backbones -> training, in every form an import takes.
      bad(BACKBONES, "import { trainReplicas } from '../training';", 'layer', { from: 'services/backbones', to: 'services/training' }),
      bad(BACKBONES, "import type { ReplicaInput } from '../training';", 'layer', { to: 'services/training' }),
      bad(BACKBONES, "export async function f() { return import('../training/transfer'); }", 'layer', { to: 'services/training' }),
      bad(BACKBONES, "export { prepareFeatures } from '../training';", 'layer', { to: 'services/training' }),
      bad(BACKBONES, "export * from '../training/transfer';", 'layer', { to: 'services/training' }),
      bad(BACKBONES, "export type T = typeof import('../training');", 'layer', { to: 'services/training' }),
      bad(TRAINING, "import { runModel } from '../export';", 'layer', { from: 'services/training', to: 'services/export' }),
      bad(EXPORT, "import { confusion } from '../evaluation/metrics';", 'layer', { from: 'services/export', to: 'services/evaluation' }),
      bad('src/main/services/import/example.ts', "import { listRuns } from '../training';", 'layer', { to: 'services/training' }),
      // Deep imports into another feature.
      bad(EVALUATION, "import { trainReplicas } from '../training/train';", 'entry', { to: 'services/training', folder: '../training' }),
      bad(EXPORT, "import type { FeaturePack } from '../backbones/extract';", 'entry', { to: 'services/backbones' }),
      bad(INFERENCE, "import { parseLabels } from '../export/files';", 'entry', { to: 'services/export' }),
      // Neutral homes import no other service folder, not even each other or the root files.
      bad(ONNX, "import { packPixels } from '../pixels/pixel-pack';", 'layer', { from: 'services/onnx', to: 'services/pixels' }),
      bad('src/main/services/pixels/example.ts', "import { addClass } from '../classes';", 'layer', { to: 'services/root' }),
      bad('src/main/services/rng.ts', "import { GraphBuilder } from './onnx/graph-builder';", 'layer', { from: 'services/rng' }),
      bad(ROOT_FILE, "import { trainReplicas } from './training';", 'layer', { from: 'services/root', to: 'services/training' }),
      // Services never reach for the front ends or electron.
      bad(TRAINING, "import { app } from 'electron';", 'layer', { to: 'electron' }),
      bad(TRAINING, "import type { Session } from '../../api/studio';", 'layer', { to: 'api' }),
      bad(ROOT_FILE, "import { run } from '../cli/run';", 'layer', { to: 'cli' }),
      bad(EXPORT, "import { serve } from '../../transport/server';", 'layer', { to: 'transport' }),
      bad(INFERENCE, "import { menu } from '../../desktop/menu';", 'layer', { to: 'desktop' }),
      bad(TRAINING, "import { replica } from '../../workers/train.worker';", 'layer', { to: 'workers' }),
      // The store and the job runner stay below the services.
      bad('src/main/store/example.ts', "import { addClass } from '../services/classes';", 'layer', { from: 'store', to: 'services/root' }),
      bad('src/main/jobs/example.ts', "import type { Project } from '../store/project';", 'layer', { from: 'jobs', to: 'store' }),
      bad('src/main/workers/spawn.ts', "import { trainReplicas } from '../services/training';", 'layer', { from: 'workers/spawn' }),
      bad('src/main/api/example.ts', "import { app } from 'electron';", 'layer', { from: 'api', to: 'electron' }),
      // The contract depends on nothing; the renderer and preload only on the contract.
      bad('src/shared/example.ts', "import { loupeVersion } from '../main/version';", 'layer', { from: 'shared', to: 'main/version' }),
      bad('src/shared/example.ts', "import { z } from 'zod';", 'packages', { from: 'shared' }),
      bad('src/renderer/src/lib/example.ts', "import { addClass } from '../../../main/services/classes';", 'layer', { from: 'renderer' }),
      bad('src/renderer/src/lib/example.ts', "import type { Bridge } from '../../../preload/index';", 'layer', { to: 'preload' }),
      bad('src/renderer/src/lib/example.ts', "import { ipcRenderer } from 'electron';", 'layer', { to: 'electron' }),
      bad('src/preload/index.ts', "import { Jobs } from '../main/jobs/jobs';", 'layer', { from: 'preload', to: 'jobs' }),
      bad('src/renderer/src/example.ts', "import icon from '../../main/version?raw';", 'layer', { from: 'renderer', to: 'main/version' }),
      // A folder the map does not know yet must be placed in it.
      bad('src/main/newfolder/example.ts', "export const x = 1;", 'unplaced'),
      bad('src/main/services/newfeature/example.ts', "export const x = 1;", 'unplaced'),
      bad(TRAINING, "import { x } from '../../newfolder/example';", 'unplacedTarget'),
    ],
  });
});

describe('the layer table', () => {
  it('places every source file in src/ in a layer', () => {
    const unplaced: string[] = [];
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(at(dir), { withFileTypes: true })) {
        const rel = `${dir}/${entry.name}`;
        if (entry.isDirectory()) walk(rel);
        else if (/\.(ts|mjs|js|svelte)$/.test(entry.name) && !layerOf(rel.replace(/\.(ts|mjs|js|svelte)$/, ''))) unplaced.push(rel);
      }
    };
    walk('src');
    expect(unplaced).toEqual([]);
  });

  it('lets service folders import each other one way only (no circle in the table itself)', () => {
    const may = new Map(LAYERS.map((l) => [l.name, l.may ?? []]));
    const cycles: string[] = [];
    const visit = (name: string, trail: string[]) => {
      if (trail.includes(name)) return void cycles.push([...trail.slice(trail.indexOf(name)), name].join(' -> '));
      for (const next of may.get(name) ?? []) visit(next, [...trail, name]);
    };
    for (const layer of LAYERS) visit(layer.name, []);
    expect(cycles).toEqual([]);
  });

  it('keeps the folder rule of issue 14 for the service folders', () => {
    const services = (name: string) => (LAYERS.find((l) => l.name === name)?.may ?? []).filter((m) => m.startsWith('services/')).sort();
    const neutral = ['services/onnx', 'services/pixels', 'services/rng', 'services/tfjs', 'services/tflite'];
    // Neutral homes use no other service, except that tflite/ reads a TF.js model through onnx/'s plain-data reader.
    for (const home of neutral) expect(services(home)).toEqual(home === 'services/tflite' ? ['services/onnx'] : []);
    expect(services('services/root')).toEqual(neutral);
    expect(services('services/import')).toEqual([...neutral, 'services/root'].sort());
    expect(services('services/backbones')).toEqual([...neutral, 'services/root'].sort());
    expect(services('services/training')).toEqual([...neutral, 'services/backbones', 'services/root'].sort());
    expect(services('services/export')).toEqual([...neutral, 'services/backbones', 'services/root', 'services/training'].sort());
    expect(services('services/evaluation')).toEqual([...neutral, 'services/backbones', 'services/root', 'services/training'].sort());
    expect(services('services/inference')).toEqual([...neutral, 'services/export', 'services/import', 'services/root'].sort());
  });
});
