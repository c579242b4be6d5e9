// What the front ends do with backbones: list them, download one, add one from this machine
// (extracting a project's features ahead of training is training's: training/project-features.ts).

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { BackboneDownload, BackboneInfo } from '../../../shared/types';
import { downloadCopy } from './download';
import { onnxFeatureGraph, onnxValueNames } from '../onnx/surgery';
import { ensureFeatures } from './extract';
import { backboneAtPath, customBackbone, downloadableCopy, findCopy, listBackbones, recogniseFile, tfjsFiles, type ResolvedBackbone } from './locate';
import { loadRegistry, saveLocatedCopy, saveUserBackbone, userBackbones, type UserBackbone } from './registry';

export { listBackbones };

export async function downloadBackbone(
  name: string,
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number | null) => void } = {},
): Promise<BackboneDownload> {
  const entry = loadRegistry().find((e) => e.id === name);
  if (!entry) throw new LoupeError('NOT_FOUND', `There is no backbone "${name}" in the registry (${loadRegistry().map((e) => e.id).join(', ')}).`);
  const copy = downloadableCopy(entry);
  if (!copy) {
    const official = entry.copies.find((c) => c.mirrors.length > 0);
    throw new LoupeError(
      'NOT_SUPPORTED',
      official
        ? `Loupe downloads only files it can verify, and the registry has no checksums for ${entry.title}'s official files yet. Fetch them from ${official.mirrors[0]} yourself and add the folder, or pin them (resources/BACKBONES.md).`
        : `${entry.title} has no download source.`,
    );
  }
  const started = performance.now();
  let bytes = 0;
  await downloadCopy(entry, copy, { signal: options.signal, onProgress: (d, t) => ((bytes = d), options.onProgress?.(d, t)) });
  const info = listBackbones().find((b) => b.name === entry.id)!;
  return { backbone: info, bytes, seconds: (performance.now() - started) / 1000 };
}

export interface AddRequest {
  path: string;
  name?: string;
  /** TF.js: the feature layer; ONNX: the value holding the features (default: found automatically). */
  output?: string;
  size?: number;
  /** ONNX: the model's input is x * scale + offset for pixels x in [0, 1] (default 1 and 0). */
  scale?: number;
  offset?: number;
}

function layerNames(dir: string): string[] {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as { modelTopology?: Record<string, unknown> };
  let t = json.modelTopology ?? {};
  if (t.model_config) t = t.model_config as Record<string, unknown>;
  const config = t.config as { layers?: { name?: string; config?: { name?: string } }[] } | { name?: string; config?: { name?: string } }[];
  const layers = Array.isArray(config) ? config : (config?.layers ?? []);
  return layers.map((l) => l.config?.name ?? l.name ?? '').filter(Boolean);
}

/**
 * A registry copy the user pointed at (an official file fetched by hand or through a proxy,
 * recognised by its hash): Loupe remembers where it lies, so it is found again, unless it already
 * lies where Loupe looks. It is not copied: the file can be hundreds of megabytes, and it is
 * checked again (size, then sha256) whenever it is used.
 */
function rememberOfficial(known: ResolvedBackbone): BackboneInfo {
  const entry = loadRegistry().find((e) => e.id === known.name)!;
  if (findCopy(entry).backbone?.location !== known.location) saveLocatedCopy({ id: known.name, copy: known.copy, path: known.location, addedAt: Date.now() });
  return listBackbones().find((b) => b.name === known.name)!;
}

/**
 * Adds a backbone from this machine. A file or folder that is a registry copy by its checksums is
 * that registry backbone, verified (Loupe remembers where it is); a TF.js model whose layers
 * include a registry backbone's feature layer (the official MobileNet fetched by hand, unpinned)
 * gets that backbone's preprocessing and feature layer; anything else is the user's own model.
 */
export async function addBackbone(request: AddRequest): Promise<BackboneInfo> {
  const target = path.resolve(request.path);
  if (!fs.existsSync(target)) throw new LoupeError('NOT_FOUND', `${target} does not exist.`);
  const isDir = fs.statSync(target).isDirectory();
  if (isDir) {
    const known = backboneAtPath(target);
    if (known.source === 'registry') return rememberOfficial(known);
  } else {
    if (recogniseFile(target)) return rememberOfficial(backboneAtPath(target));
  }
  const name = request.name ?? path.basename(target).replace(/\.onnx$/i, '').replace(/[^\w.-]/g, '_');
  if (loadRegistry().some((e) => e.id === name)) throw new LoupeError('ALREADY_EXISTS', `"${name}" is the name of a registry backbone: choose another name.`);
  let user: UserBackbone;
  if (isDir) {
    tfjsFiles(target);
    const layers = layerNames(target);
    const names = (c: { featureLayer: string | null }) => c.featureLayer !== null && layers.includes(c.featureLayer);
    const entry = loadRegistry().find((e) => e.format === 'tfjs-layers' && e.copies.some(names));
    const copy = entry?.copies.find(names);
    const output = request.output ?? copy?.featureLayer ?? layers.at(-1);
    if (!output || !layers.includes(output)) throw new LoupeError('INVALID_INPUT', `The model in ${target} has no layer "${output}". Its layers: ${layers.slice(-8).join(', ')} ...`);
    user = {
      name,
      path: target,
      format: 'tfjs-layers',
      output,
      inputSize: request.size ?? entry?.inputSize ?? 224,
      preprocess: entry?.preprocess ?? { scale: 1, offset: 0 },
      addedAt: Date.now(),
    };
  } else if (target.toLowerCase().endsWith('.onnx')) {
    if (request.output !== undefined) {
      const values = onnxValueNames(target);
      if (!values.includes(request.output)) throw new LoupeError('INVALID_INPUT', `${target} computes no value named "${request.output}"; its last values: ${values.slice(-6).join(', ')}.`);
    }
    user = {
      name,
      path: target,
      format: 'onnx',
      output: request.output ?? null,
      inputSize: request.size ?? 224,
      preprocess: { scale: request.scale ?? 1, offset: request.offset ?? 0 },
      addedAt: Date.now(),
    };
    await onnxFeatureGraph(target, user.output, user.inputSize, user.preprocess); // refuse a model that cannot run now, not at training
  } else {
    throw new LoupeError('INVALID_INPUT', `${target} is neither a TensorFlow.js model folder nor an .onnx file.`);
  }
  customBackbone(user, 'user'); // reads every file: refuse a broken model now, not at training
  if (userBackbones().some((u) => u.name === name && u.path !== target)) throw new LoupeError('ALREADY_EXISTS', `A backbone named "${name}" was already added from elsewhere.`);
  saveUserBackbone(user);
  return listBackbones().find((b) => b.name === name)!;
}

export { ensureFeatures };
