// `loupe export-training`: a self-contained folder to train a run's model elsewhere with PyTorch
// (torchrun, DDP), and bring it home with `loupe import-run`.
//
// The images go in as Loupe feeds them to the model: decoded, oriented and resized to the run's
// input (the pixel pack's rows, the very bytes Loupe trains on), stored losslessly as PNG. So the
// cluster trains on Loupe's pixels, and the model's predictions there can be checked here against
// onnxruntime on the project's own images to 1e-4 (import-run does). Written into a hidden
// staging folder and renamed into place when complete.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { LoupeError } from '../../../shared/errors';
import type { PreprocessSpec, Split, TrainConfig, TrainOverrides, TrainPlan } from '../../../shared/types';
import { throwIfCancelled } from '../../jobs/jobs';
import { requireWritable, type Project } from '../../store/project';
import { loupeVersion, packageRoot } from '../../version';
import { PIXEL_SCALE } from '../pixels/augment';
import { ensurePixelPack, readRows } from '../pixels/pixel-pack';
import { permutation, seededRandom } from '../rng';
import { planTraining, runDetails } from '../training';
import { BACKBONE_BIN, BACKBONE_JSON, backboneGraph } from './backbone-graph';
import { bundleReadme } from './readme';
import { ensureProjectId, projectId, runSnapshotFiles } from './records';
import { BUNDLE_FORMAT, MANIFEST_FILE, sha256File, type BundleManifest, type BundleSample } from './manifest';
import { TarWriter } from './tar';

/**
 * The bundle's Python, written out as it is: read from the source tree at run time (the CLI runs
 * from source under tsx as well as built, so a bundler's text import would not do).
 */
const PYTHON_DIR = path.join(packageRoot(), 'src', 'main', 'services', 'bundle', 'python');
const PYTHON_FILES = ['train.py', 'loupe_models.py'] as const;
const pythonSource = (name: string) => fs.readFileSync(path.join(PYTHON_DIR, name), 'utf8');

/** Images per shard: shards of tens of MB at CIFAR sizes, enough of them to split over processes. */
export const SHARD_IMAGES = 2000;
const SPLITS: readonly Split[] = ['train', 'val', 'test'];
const ENCODE_BATCH = 64;

export interface BundleItem {
  imageId: number;
  hash: string;
  ext: string;
  label: number;
  split: Split;
}

export interface ExportTrainingRequest {
  /** The run whose plan and data snapshot to carry; absent: the one-click plan of the data now. */
  runId?: number;
  /**
   * Without a run: choices for the plan (a backbone by name and its fine-tuning, as Advanced
   * settings give them); absent: the one-click plan from scratch.
   */
  overrides?: TrainOverrides;
  /** The bundle's folder: must not exist yet, or be empty. */
  out: string;
  /** Tests: images per shard. */
  shardImages?: number;
}

export interface ExportTrainingResult {
  dir: string;
  runId: number | null;
  projectId: string;
  arch: string;
  /** A transfer plan's backbone (its title); null from scratch. */
  backbone: string | null;
  images: Record<Split, number>;
  shards: number;
  /** Images that could not be decoded and were left out. */
  skipped: number;
  bytes: number;
  seconds: number;
}

export interface ExportTrainingOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number | null, phase: string) => void;
}

function preprocessOf(config: TrainConfig): PreprocessSpec {
  const { width, height, channels } = config;
  return { width, height, channels, resize: 'cover', layout: 'NHWC', normalization: { scale: PIXEL_SCALE, offset: 0, inputRange: [0, 255] } };
}

/** The plan and the exact data: a run's own (its snapshot), else the one-click plan from scratch. */
async function planAndData(project: Project, runId?: number, overrides?: TrainOverrides): Promise<{ config: TrainConfig; plan: TrainPlan | null; classes: { id: number; name: string }[]; items: BundleItem[] }> {
  if (runId !== undefined) {
    const run = runDetails(project.db, runId);
    const index = new Map(run.classes.map((c, i) => [c.id, i]));
    const rows = runSnapshotFiles(project.db, runId);
    const items = rows.filter((r) => index.has(r.classId)).map((r) => ({ imageId: r.imageId, hash: r.hash, ext: r.ext, label: index.get(r.classId)!, split: r.split }));
    return { config: run.config, plan: run.plan, classes: run.classes, items };
  }
  // One click's own choice of a backbone is left to Loupe: without --backbone the bundle plans from scratch.
  const { plan, data } = await planTraining(project, { backbone: null, ...overrides });
  if (plan.blocker) throw new LoupeError('INVALID_INPUT', plan.blocker);
  return { config: plan.config, plan, classes: data.classes, items: data.items };
}

/** Writes the training bundle of a run (or of the one-click plan) into `request.out`. */
export async function exportTraining(project: Project, request: ExportTrainingRequest, options: ExportTrainingOptions = {}): Promise<ExportTrainingResult> {
  const { signal, onProgress } = options;
  const started = performance.now();
  const dir = path.resolve(request.out);
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) throw new LoupeError('ALREADY_EXISTS', `${dir} exists and is not empty: choose a new folder for the bundle.`);
  // The id ties the bundle to this project; a read-only project that has none cannot make one.
  const id = project.readOnly ? ensureIdReadOnly(project) : ensureProjectId(requireWritable(project).db);
  const { config, plan, classes, items } = await planAndData(project, request.runId, request.overrides);
  // A transfer run's backbone goes in as a graph torch runs; an operator it cannot run is refused before any work.
  const graph = config.backbone ? await backboneGraph(config.backbone) : null;
  if (!items.some((it) => it.split === 'train')) throw new LoupeError('INVALID_INPUT', 'There are no training images to put in the bundle.');

  onProgress?.(0, items.length, 'Preparing images');
  const spec = { width: config.width, height: config.height, channels: config.channels, fit: 'cover' as const };
  const pack = await ensurePixelPack(project, items, spec, { signal, onProgress: (d, t) => onProgress?.(d, t, 'Preparing images') });
  if (signal) throwIfCancelled(signal);

  const staging = path.join(path.dirname(dir), `.${path.basename(dir)}.partial-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(path.join(staging, 'data'), { recursive: true });
  const files: Record<string, string> = {};
  const splits = {} as BundleManifest['splits'];
  const samples: BundleSample[] = [];
  const perShard = request.shardImages ?? SHARD_IMAGES;
  let done = 0;
  let bytes = 0;
  const fd = fs.openSync(pack.file, 'r');
  try {
    const readable = items.filter((it) => pack.rows.has(it.hash));
    for (const split of SPLITS) {
      let chosen = readable.filter((it) => it.split === split);
      // Training shards hold a seeded shuffle: each shard is a fair sample of every class.
      if (split === 'train') chosen = Array.from(permutation(chosen.length, seededRandom(config.seed)), (i) => chosen[i]);
      splits[split] = { images: chosen.length, shards: [] };
      for (let s = 0; s * perShard < chosen.length; s++) {
        const rel = `data/${split}-${String(s).padStart(6, '0')}.tar`;
        const tar = new TarWriter(path.join(staging, rel));
        try {
          const shard = chosen.slice(s * perShard, (s + 1) * perShard);
          // PNG encoding runs on sharp's threads, a batch at a time; the tar is written in order.
          for (let b = 0; b < shard.length; b += ENCODE_BATCH) {
            if (signal) throwIfCancelled(signal);
            const batch = shard.slice(b, b + ENCODE_BATCH);
            const pngs = await Promise.all(
              batch.map((it) => sharp(readRows(fd, pack, [pack.rows.get(it.hash)!]), { raw: { width: spec.width, height: spec.height, channels: spec.channels } }).png({ compressionLevel: 6 }).toBuffer()),
            );
            batch.forEach((it, i) => {
              tar.add(`${it.hash}.png`, pngs[i]);
              tar.add(`${it.hash}.cls`, Buffer.from(String(it.label)));
              samples.push({ key: it.hash, imageId: it.imageId, split, label: it.label });
            });
            done += batch.length;
            onProgress?.(done, readable.length, 'Writing shards');
          }
        } catch (err) {
          tar.abandon();
          throw err;
        }
        files[rel] = tar.close();
        bytes += tar.bytes;
        splits[split].shards.push(rel);
      }
    }
    const write = (rel: string, text: string) => {
      fs.writeFileSync(path.join(staging, rel), text);
      files[rel] = sha256File(path.join(staging, rel));
    };
    for (const name of PYTHON_FILES) write(name, pythonSource(name));
    if (graph) {
      write('onnx_graph.py', pythonSource('onnx_graph.py'));
      write(BACKBONE_JSON, JSON.stringify(graph.json));
      fs.writeFileSync(path.join(staging, BACKBONE_BIN), graph.bin);
      files[BACKBONE_BIN] = sha256File(path.join(staging, BACKBONE_BIN));
    }
    const manifest: BundleManifest = {
      format: BUNDLE_FORMAT,
      version: 1,
      createdAt: new Date().toISOString(),
      loupeVersion: loupeVersion(),
      project: { id, name: project.name },
      run: { id: request.runId ?? null },
      config,
      plan,
      preprocess: preprocessOf(config),
      classes: classes.map((c, index) => ({ index, id: c.id, name: c.name })),
      splits,
      samples,
      files: {},
    };
    write('README.md', bundleReadme(manifest));
    manifest.files = Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
    fs.writeFileSync(path.join(staging, MANIFEST_FILE), JSON.stringify(manifest, null, 1));
    if (fs.existsSync(dir)) fs.rmdirSync(dir);
    fs.renameSync(staging, dir);
    return {
      dir,
      runId: request.runId ?? null,
      projectId: id,
      arch: config.arch,
      backbone: config.backbone?.title ?? null,
      images: { train: splits.train.images, val: splits.val.images, test: splits.test.images },
      shards: Object.values(splits).reduce((n, s) => n + s.shards.length, 0),
      skipped: items.length - readable.length,
      bytes,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  } finally {
    fs.closeSync(fd);
  }
}

function ensureIdReadOnly(project: Project): string {
  const id = projectId(project.db);
  if (!id) throw new LoupeError('READ_ONLY', 'This project is open read-only and has no id yet to tie a bundle to: open it writable once to export a training bundle.');
  return id;
}
