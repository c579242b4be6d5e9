// `loupe import-run`: a model trained elsewhere from a training bundle comes home as a run.
//
// What must never happen: a run whose predictions are not the model's on this project's images.
// So the import refuses, before it writes anything, a bundle of another project, a bundle or
// outputs whose files differ from their recorded sha256, images no longer in the project (removed
// or changed: a changed image is another hash), and a model.onnx that does not reproduce the
// bundle's own predictions through onnxruntime on the project's images decoded by Loupe. Then
// the run, its epochs, its data snapshot and its predictions are written in one transaction and
// the model folder is renamed into place inside it: a failed import changes nothing.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { ExportParity, Split } from '../../../shared/types';
import { throwIfCancelled } from '../../jobs/jobs';
import { mediaRelPath } from '../../store/media';
import { requireWritable, type Project } from '../../store/project';
import { compareProbabilities, parityProblem, spread, PARITY_IMAGES } from '../export';
import { createSession, onnxruntime } from '../onnx/runtime';
import { decodeToSpec } from '../pixels/pixel-pack';
import { createRun, finishRun, predictionWriter, recordEpoch } from '../training';
import { classIds as projectClassIds, importedRunIds, imagesByHash, projectId } from './records';
import {
  BUNDLE_FORMAT,
  MANIFEST_FILE,
  OUTPUTS_DIR,
  OUTPUTS_FILE,
  OUTPUTS_FORMAT,
  sha256File,
  verifyFiles,
  type BundleManifest,
  type BundleOutputs,
  type BundlePredictions,
} from './manifest';

/** The backend name an imported run records: trained by PyTorch, not by one of Loupe's engines. */
export const PYTORCH_BACKEND = 'pytorch';
/** An imported run's model: one ONNX graph, as a run on an ONNX backbone keeps it. */
export const IMPORTED_ONNX = 'model.onnx';
export const IMPORTED_OUTPUTS = 'outputs.json';

export interface ImportRunResult {
  runId: number;
  arch: string;
  epochs: number;
  keptEpoch: number;
  valAccuracy: number | null;
  testAccuracy: number | null;
  /** onnxruntime here against the bundle's own probabilities, on the project's images. */
  parity: ExportParity & { split: Split };
  trainedOn: BundleOutputs['trainedOn'];
  wallSeconds: number;
  device: string;
  origin: string;
}

export interface ImportRunOptions {
  /** Where train.py wrote its outputs (its --out); default: <bundle>/outputs. */
  outputsDir?: string;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number | null, phase: string) => void;
}

function readJson<T>(file: string, what: string): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new LoupeError('NOT_FOUND', `${file} is missing: ${what}.`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new LoupeError('INVALID_INPUT', `${file} is not valid JSON: ${what}.`);
  }
}

/** Where and how it trained, in one line for the run's record. */
export function originText(o: BundleOutputs, dir: string): { device: string; reason: string } {
  const t = o.trainedOn;
  const device = t.device === 'cuda' ? `${t.processes} x ${t.gpu ?? 'GPU'}` : `${t.processes} CPU process${t.processes === 1 ? '' : 'es'} (${t.cpuThreads} threads each)`;
  const how = [
    `PyTorch ${t.torch}${t.cuda ? ` (CUDA ${t.cuda})` : ''}`,
    `on ${t.host}${t.nodes > 1 ? ` and ${t.nodes - 1} more node${t.nodes > 2 ? 's' : ''}` : ''}`,
    t.distributed ? `torchrun with ${t.processes} processes (DDP, ${t.distributed})` : 'one process',
    t.mixedPrecision ? `${t.mixedPrecision} mixed precision` : 'float32',
  ];
  return { device, reason: `Trained outside Loupe from a training bundle: ${how.join(', ')}; ${o.wallSeconds.toFixed(0)} s wall time, finished ${o.finishedAt}. Imported from ${dir}.` };
}

function argmax(p: ArrayLike<number>): number {
  let a = 0;
  for (let k = 1; k < p.length; k++) if (p[k] > p[a]) a = k;
  return a;
}

export async function importRun(project: Project, bundleDir: string, options: ImportRunOptions = {}): Promise<ImportRunResult> {
  requireWritable(project, 'a run cannot be imported');
  const { signal, onProgress } = options;
  const dir = path.resolve(bundleDir);
  const manifest = readJson<BundleManifest>(path.join(dir, MANIFEST_FILE), 'is this the folder `loupe export-training` wrote?');
  if (manifest.format !== BUNDLE_FORMAT || manifest.version !== 1) throw new LoupeError('INVALID_INPUT', `${dir} is not a Loupe training bundle (its manifest.json says ${String(manifest.format)} ${String(manifest.version)}).`);
  const id = projectId(project.db);
  if (manifest.project.id !== id) {
    throw new LoupeError(
      'INVALID_INPUT',
      `This bundle was made from another project ("${manifest.project.name}", id ${manifest.project.id}), not from ${project.name}${id ? ` (id ${id})` : ''}: import it into the project it came from. Nothing was imported.`,
    );
  }
  const outDir = path.resolve(options.outputsDir ?? path.join(dir, OUTPUTS_DIR));
  const outputs = readJson<BundleOutputs>(path.join(outDir, OUTPUTS_FILE), 'train.py writes it when training ends (has it finished?)');
  if (outputs.format !== OUTPUTS_FORMAT) throw new LoupeError('INVALID_INPUT', `${path.join(outDir, OUTPUTS_FILE)} is not the outputs of a Loupe training bundle.`);
  if (outputs.bundle.manifestSha256 !== sha256File(path.join(dir, MANIFEST_FILE))) {
    throw new LoupeError('INVALID_INPUT', `The outputs in ${outDir} were not trained from this bundle's manifest.json (its sha256 differs from the one train.py recorded). Nothing was imported.`);
  }
  // The same outputs twice would be two runs of one model.
  const outputsSha = sha256File(path.join(outDir, OUTPUTS_FILE));
  const again = importedRunIds(project.db).find((runId) => {
    const kept = path.join(project.paths.models, String(runId), IMPORTED_OUTPUTS);
    return fs.existsSync(kept) && sha256File(kept) === outputsSha;
  });
  if (again !== undefined) throw new LoupeError('ALREADY_EXISTS', `These outputs were already imported as run #${again}. Nothing was imported.`);
  onProgress?.(0, null, 'Checking the bundle');
  verifyFiles(dir, manifest.files, "the bundle's manifest", (d, t) => onProgress?.(d, t, 'Checking the bundle'));
  verifyFiles(outDir, outputs.files, 'outputs.json');
  if (signal) throwIfCancelled(signal);

  // Every image must still be in the project, unchanged (a changed file is another hash).
  const byHash = imagesByHash(project.db);
  const gone = manifest.samples.filter((s) => byHash.get(s.key)?.removed !== null);
  if (gone.length > 0) {
    throw new LoupeError(
      'INVALID_INPUT',
      `${gone.length.toLocaleString('en-US')} of the bundle's ${manifest.samples.length.toLocaleString('en-US')} images are no longer in this project (removed, or changed since the bundle was made), e.g. image #${gone[0].imageId}: the run would not describe the project's data. Nothing was imported.`,
    );
  }
  const classIds = projectClassIds(project.db);
  const missingClass = manifest.classes.find((c) => !classIds.has(c.id));
  if (missingClass) throw new LoupeError('INVALID_INPUT', `The class "${missingClass.name}" of the bundle is no longer in this project. Nothing was imported.`);

  const predictions = readJson<BundlePredictions>(path.join(outDir, 'predictions.json'), 'train.py writes it when training ends');
  const K = manifest.classes.length;
  const sampleOf = new Map(manifest.samples.map((s) => [s.key, s]));
  for (const split of ['val', 'test'] as const) {
    const p = predictions[split];
    const expected = manifest.samples.filter((s) => s.split === split).length;
    if (!p || p.keys.length !== expected || p.probs.some((row) => row.length !== K) || p.keys.some((k) => sampleOf.get(k)?.split !== split)) {
      throw new LoupeError('INVALID_INPUT', `predictions.json does not hold one row of ${K} probabilities for each of the bundle's ${expected} ${split} images. Nothing was imported.`);
    }
  }

  // The model must give the bundle's own predictions on the project's images, decoded here.
  const paritySplit: Split = predictions.test.keys.length > 0 ? 'test' : 'val';
  const chosen = spread(
    predictions[paritySplit].keys.map((key, i) => ({ key, probs: predictions[paritySplit].probs[i] })),
    PARITY_IMAGES,
  );
  const { width, height, channels } = manifest.config;
  const size = width * height * channels;
  const pixels = new Float32Array(chosen.length * size);
  for (let i = 0; i < chosen.length; i++) {
    if (signal) throwIfCancelled(signal);
    const im = byHash.get(chosen[i].key)!;
    const raw = await decodeToSpec(path.join(project.root, mediaRelPath(im.hash, im.ext)), { width, height, channels, fit: 'cover' });
    for (let j = 0; j < size; j++) pixels[i * size + j] = raw[j];
    onProgress?.(i + 1, chosen.length, 'Checking the model');
  }
  const modelBytes = fs.readFileSync(path.join(outDir, IMPORTED_ONNX));
  let parity: ExportParity;
  if (chosen.length > 0) {
    const ort = await onnxruntime();
    const { session } = await createSession(modelBytes).catch((err: unknown) => {
      throw new LoupeError('INVALID_INPUT', `onnxruntime cannot load the bundle's model.onnx: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    });
    try {
      const out = await session.run({ pixels: new ort.Tensor('float32', pixels, [chosen.length, height, width, channels]) });
      parity = compareProbabilities(Float32Array.from(chosen.flatMap((c) => c.probs)), out.probabilities.data as Float32Array, chosen.length, 'onnxruntime');
    } finally {
      await session.release();
    }
    const problem = parityProblem(parity);
    if (problem) {
      throw new LoupeError(
        'INVALID_INPUT',
        problem.replace("TensorFlow.js's predictions", "the bundle's own predictions (predictions.json)").replace('The export was not written.', 'Nothing was imported.'),
      );
    }
  } else {
    parity = { against: 'onnxruntime', images: 0, maxAbsDiff: 0, top1Agreement: 1 };
  }
  if (signal) throwIfCancelled(signal);

  // Everything checked: the model folder is staged, then the run is written in one transaction.
  const staging = path.join(project.paths.models, `.import-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(staging, { recursive: true });
  fs.copyFileSync(path.join(outDir, IMPORTED_ONNX), path.join(staging, IMPORTED_ONNX));
  fs.copyFileSync(path.join(outDir, OUTPUTS_FILE), path.join(staging, IMPORTED_OUTPUTS));
  const { device, reason } = originText(outputs, dir);
  const config = { ...manifest.config, ...outputs.config, backend: 'auto' as const };
  const plan = manifest.plan ?? null;
  let runId = 0;
  const accuracy: Record<'val' | 'test', number | null> = { val: null, test: null };
  try {
    project.db.transaction(() => {
      runId = createRun(project.db, {
        arch: config.arch,
        backend: PYTORCH_BACKEND,
        backendReason: reason,
        device,
        seed: config.seed,
        plan,
        config,
        classes: manifest.classes.map((c) => ({ id: c.id, name: c.name })),
        snapshot: manifest.samples.map((s) => ({ imageId: byHash.get(s.key)!.id, classId: manifest.classes[s.label].id, split: s.split })),
      });
      for (const e of outputs.history) recordEpoch(project.db, runId, e);
      const insert = predictionWriter(project.db);
      for (const split of ['val', 'test'] as const) {
        const p = predictions[split];
        let correct = 0;
        p.keys.forEach((key, i) => {
          const probs = Float32Array.from(p.probs[i]);
          const truth = sampleOf.get(key)!.label;
          const predicted = argmax(probs);
          if (predicted === truth) correct++;
          insert(runId, byHash.get(key)!.id, split, truth, predicted, probs[predicted], -Math.log(Math.max(probs[truth], 1e-7)), Buffer.from(probs.buffer));
        });
        accuracy[split] = p.keys.length > 0 ? correct / p.keys.length : null;
      }
      const images = outputs.history.reduce((n, e) => n + e.imagesPerSecond * e.seconds, 0);
      finishRun(project.db, runId, {
        status: 'completed',
        seconds: outputs.wallSeconds,
        imagesPerSecond: outputs.trainSeconds > 0 ? images / outputs.trainSeconds : null,
        bestEpoch: outputs.bestEpoch,
        keptEpoch: outputs.keptEpoch,
        prepareSeconds: null,
        valAccuracy: accuracy.val,
        testAccuracy: accuracy.test,
      });
      const target = path.join(project.paths.models, String(runId));
      fs.rmSync(target, { recursive: true, force: true });
      fs.renameSync(staging, target);
    })();
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  return {
    runId,
    arch: config.arch,
    epochs: outputs.epochs,
    keptEpoch: outputs.keptEpoch,
    valAccuracy: accuracy.val,
    testAccuracy: accuracy.test,
    parity: { ...parity, split: paritySplit },
    trainedOn: outputs.trainedOn,
    wallSeconds: outputs.wallSeconds,
    device,
    origin: reason,
  };
}
