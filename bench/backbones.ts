// `npm run bench:backbones`: feature-extraction speed of every ONNX Model Zoo backbone's stand-in
// (same architecture as the zoo's file, random weights; built by scripts/make-standins.py with
// Debian's PyTorch into a cache outside the repository, see test/services/backbones/standins.ts)
// at each resolution it offers, beside MobileNet v1 (pw12, real weights) measured in the same
// run. Images/s through the features graph as extraction runs it (batches of 32, or one by one
// where the graph takes one image at a time), after a warm-up call; no decoding.
//
//   Options: --resolutions 128,160,224 (where the registry names none for a model)
//            --seconds S (timed per resolution, default 3)  --only NAME,NAME
// MobileNet v1 comes from LOUPE_BACKBONE_DIR (default: ../shared/models).

import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveBackbone, type ResolvedBackbone } from '../src/main/services/backbones/locate';
import { loadRegistry } from '../src/main/services/backbones/registry';
import { measureSpeeds } from '../src/main/services/backbones/speed';
import { standIns } from '../test/services/backbones/standins';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { resolutions: { type: 'string' }, seconds: { type: 'string' }, only: { type: 'string' } } });
process.env.LOUPE_BACKBONE_DIR ??= path.join(repo, '..', 'shared', 'models');
// Speeds measured here are the stand-ins', not the real files': keep them out of the user's app data.
process.env.LOUPE_HOME = path.join(os.tmpdir(), `loupe-bench-backbones-${process.pid}`);
const defaults = (values.resolutions ?? '128,160,224').split(',').map(Number);
const seconds = Number(values.seconds ?? 3);
const only = values.only?.split(',') ?? null;

// torchvision/timm ImageNet mean and std (the stand-ins' weights are random: this only sets the input range).
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

function registryResolutions(id: string): number[] | null {
  return loadRegistry().find((e) => e.id === id)?.resolutions ?? null;
}

const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const rows: { name: string; stands: string; cells: Map<number, string>; batch: string }[] = [];

async function bench(name: string, stands: string, backbone: ResolvedBackbone, resolutions: number[]): Promise<void> {
  const cells = new Map<number, string>();
  let batch = '';
  for (const r of resolutions) {
    try {
      const [speed] = await measureSpeeds(backbone, [r], { seconds });
      cells.set(r, speed.imagesPerSecond.toFixed(1));
      batch = speed.batch === 1 ? 'one by one' : `batch ${speed.batch}`;
    } catch (err) {
      cells.set(r, /native size/.test(String(err)) ? 'refused (fixed size)' : `failed: ${String(err).slice(0, 80)}`);
    }
  }
  rows.push({ name, stands, cells, batch });
  console.log(`${name.padEnd(26)} ${[...cells].map(([r, v]) => `${r}px ${v}`).join('  ')}  (${batch})  load ${load()}`);
}

async function main(): Promise<void> {
  console.log(`${os.availableParallelism()} cores, ${os.cpus()[0]?.model ?? ''}; load average at start ${load()}; ${seconds} s timed per resolution.`);
  const mobilenet = resolveBackbone('mobilenet_v1');
  await bench(`mobilenet_v1 (${mobilenet.copy})`, 'real weights', mobilenet, registryResolutions('mobilenet_v1') ?? defaults);
  for (const s of await standIns()) {
    if (only && !only.includes(s.name)) continue;
    const backbone: ResolvedBackbone = {
      name: s.name,
      title: s.name,
      source: 'path',
      format: 'onnx',
      copy: 'stand-in',
      location: s.file,
      featureLayer: '',
      features: s.features,
      inputSize: s.resolution,
      resolutions: [],
      preprocess: { scale: STD.map((x) => 1 / x), offset: MEAN.map((m, c) => -m / STD[c]) },
      license: 'stand-in',
      fingerprint: `stand-in-${s.name}`,
      verified: false,
    };
    await bench(s.name, s.zoo, backbone, registryResolutions(s.zoo) ?? defaults);
  }
  const all = [...new Set(rows.flatMap((r) => [...r.cells.keys()]))].sort((a, b) => a - b);
  console.log(`\nImages/s through the features graph (load average at end ${load()}):\n`);
  console.log(`| backbone | stands in for | ${all.map((r) => `${r} px`).join(' | ')} | runs |`);
  console.log(`|---|---|${all.map(() => '---:|').join('')}---|`);
  for (const r of rows) console.log(`| ${r.name} | ${r.stands} | ${all.map((x) => r.cells.get(x) ?? '–').join(' | ')} | ${r.batch} |`);
}

await main();
