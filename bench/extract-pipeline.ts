// `npm run bench:extract`: feature extraction end to end against onnxruntime alone.
//
//   The backbone (MobileNet v1, cut at its feature layer) at one resolution and batch:
//   1. onnxruntime alone: batches of already-decoded pixels through FeatureExtractor.run.
//   2. ensureFeatures, as a transfer run calls it: CIFAR-10 JPEGs (copied into a scratch
//      project's media folder) decoded and resized with sharp, each with its flipped copy, through
//      the backbone, rows written to the feature cache; the time split by step.
//   3. The plan's estimate of that extraction (calibrateExtraction on the same images, counted
//      as the plan counts them: each image and its flipped copy) against what it took.
//   Both rates count each image and each flipped copy, as the issue does.
//
//   Options: --images N (default 2000)  --resolution PX (default 128)  --batch N (default 32)
//            --sharp-threads N (libvips threads per decode; default: sharp's, one per core)
//            --rounds N (default 3): onnxruntime alone, then the pipeline, N times in turn, since
//            these shared machines' speed moves by a third within minutes; each round's ratio is
//            the pipeline against the onnxruntime-alone runs just before and after it.
// The backbone comes from LOUPE_BACKBONE_DIR (default: ../shared/models).

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BATCH, calibrateExtraction, ensureFeatures, FeatureExtractor, newTimings } from '../src/main/services/backbones/extract';
import { resolveBackbone } from '../src/main/services/backbones/locate';
import { decodeToSpec } from '../src/main/services/pixels/pixel-pack';
import type { Project } from '../src/main/store/project';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { images: { type: 'string' }, resolution: { type: 'string' }, batch: { type: 'string' }, 'sharp-threads': { type: 'string' }, rounds: { type: 'string' } } });
process.env.LOUPE_BACKBONE_DIR ??= path.join(repo, '..', 'shared', 'models');
const count = Number(values.images ?? 2000);
const r = Number(values.resolution ?? 128);
const batch = Number(values.batch ?? BATCH);
const rounds = Number(values.rounds ?? 3);
const num = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const CIFAR = '/tmp/cifar10/train';
if (values['sharp-threads']) (await import('sharp')).default.concurrency(Number(values['sharp-threads']));

/** A scratch project holding `count` CIFAR-10 training JPEGs (classes in turn), as the import lays them out. */
function scratchProject(): { project: Project; images: { hash: string; ext: string; flip: boolean }[]; root: string } {
  if (!fs.existsSync(CIFAR)) throw new Error(`${CIFAR} is missing: npm run bench:transfer -- --only speed extracts it.`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-bench-extract-'));
  const classes = fs.readdirSync(CIFAR).sort();
  const lists = classes.map((c) => fs.readdirSync(path.join(CIFAR, c)).sort());
  const images: { hash: string; ext: string; flip: boolean }[] = [];
  for (let i = 0; images.length < count; i++) {
    const c = i % classes.length;
    const bytes = fs.readFileSync(path.join(CIFAR, classes[c], lists[c][Math.floor(i / classes.length)]));
    const hash = createHash('sha256').update(bytes).digest('hex');
    fs.mkdirSync(path.join(root, 'media', hash.slice(0, 2)), { recursive: true });
    fs.writeFileSync(path.join(root, 'media', hash.slice(0, 2), `${hash}.jpg`), bytes);
    images.push({ hash, ext: 'jpg', flip: true });
  }
  // ensureFeatures and calibrateExtraction read only these two.
  const project = { root, paths: { cache: path.join(root, 'cache') } } as unknown as Project;
  return { project, images, root };
}

const load = () => os.loadavg().map((l) => num(l, 2)).join(', ');

async function ortAlone(): Promise<number> {
  const backbone = resolveBackbone('mobilenet_v1');
  const spec = { width: r, height: r, channels: 3 as const, fit: 'cover' as const };
  const files = fs.readdirSync(path.join(CIFAR, 'cat')).slice(0, 64).map((f) => path.join(CIFAR, 'cat', f));
  const pixels = new Float32Array(files.length * r * r * 3);
  for (let i = 0; i < files.length; i++) pixels.set(await decodeToSpec(files[i], spec), i * r * r * 3);
  const extractor = await FeatureExtractor.create(backbone, r);
  try {
    await extractor.run(pixels, batch); // warm-up
    const started = performance.now();
    let n = 0;
    for (let rep = 0; rep < 16; rep++) {
      for (let b = 0; b + batch <= files.length; b += batch) {
        await extractor.run(pixels.subarray(b * r * r * 3), batch);
        n += batch;
      }
    }
    return n / ((performance.now() - started) / 1000);
  } finally {
    await extractor.release();
  }
}

async function pipeline(): Promise<{ rate: number; estimate: number; seconds: number }> {
  const backbone = resolveBackbone('mobilenet_v1');
  const { project, images, root } = scratchProject();
  try {
    // The plan's estimate: calibrated on the images still to extract, counted with their flipped copies.
    const calibrated = await calibrateExtraction(project, backbone, r, images, { flip: true });
    const timings = newTimings();
    await ensureFeatures(project, backbone, r, images, { batch, timings });
    const seconds = timings.total / 1000;
    const rate = timings.backboneImages / seconds;
    const share = (ms: number) => `${num(ms / 1000, 2)} s (${num((100 * ms) / timings.total, 0)}%)`;
    console.log(
      `ensureFeatures: ${num(timings.images)} images + flipped copies = ${num(timings.backboneImages)} through the backbone in ${num(seconds, 2)} s: ${num(rate, 1)} img/s\n` +
        `  onnxruntime runs ${share(timings.run)}, waiting for decodes ${share(timings.waitDecode)}, copies into the input ${share(timings.copy)}, cache writes ${share(timings.write)}; ` +
        `decodes (several at once, beside the runs) ${num(timings.decode / 1000, 2)} s summed, ${num((1000 * timings.decode) / timings.images / 1000, 2)} ms each`,
    );
    const estimate = calibrated === null ? NaN : timings.backboneImages / calibrated;
    console.log(`plan's estimate: ${num(calibrated ?? NaN, 1)} img/s -> ${num(estimate, 2)} s, took ${num(seconds, 2)} s (estimate/actual ${num(estimate / seconds, 2)})`);
    return { rate, estimate, seconds };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

console.log(`Feature extraction end to end: MobileNet v1 at ${r} px, batch ${batch}, ${num(count)} CIFAR-10 JPEGs with flipped copies; ${os.availableParallelism()} cores; load ${load()}`);
let before = await ortAlone();
console.log(`onnxruntime alone: ${num(before, 1)} img/s`);
const ratios: number[] = [];
for (let round = 1; round <= rounds; round++) {
  const { rate } = await pipeline();
  const after = await ortAlone();
  const base = (before + after) / 2;
  ratios.push(rate / base);
  console.log(`onnxruntime alone: ${num(after, 1)} img/s\nround ${round}: end to end / onnxruntime alone = ${num(rate, 1)} / ${num(base, 1)} = ${num((100 * rate) / base, 0)}%; load ${load()}`);
  before = after;
}
const sorted = [...ratios].sort((a, b) => a - b);
console.log(`end to end / onnxruntime alone over ${rounds} rounds: median ${num(100 * sorted[Math.floor(sorted.length / 2)], 0)}% (${ratios.map((x) => `${num(100 * x, 0)}%`).join(', ')})`);
