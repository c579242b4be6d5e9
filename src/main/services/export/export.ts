// Exporting a run: the model as ONNX (float, and int8 beside it for onnx-int8), TensorFlow Lite
// (float, and int8 beside it for tflite-int8) and/or TF.js layers files, labels.txt, preprocess.json, a
// model card and sample code, written into <dir>/<name>/ (and <dir>/<name>.zip). Everything is
// written into a hidden staging folder beside it and renamed into place only after the parity
// check passed, so a failed or cancelled export leaves nothing, and an export that is there is
// complete and verified.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { ExportFormat, ExportParity, ExportResult, Int8Check, TfliteCheck } from '../../../shared/types';
import { cancelledError, throwIfCancelled } from '../../jobs/jobs';
import type { Project } from '../../store/project';
import { loupeVersion } from '../../version';
import { onnxruntime, ortVersion } from '../onnx/runtime';
import { MODEL_JSON, WEIGHTS_BIN } from '../tfjs/checkpoint';
import { CARD_FILE, INT8_FILE, LABELS_FILE, ONNX_FILE, PREPROCESS_FILE, TFJS_DIR, TFLITE_FILE, TFLITE_INT8_FILE, labelsText, modelCard, preprocessJson, storedMetrics } from './files';
import { tfliteExport } from './tflite';
import type { CalibrationMethod } from '../../../shared/types';
import { cleanExportName, inside, requireExportName } from './names';
import { int8Export } from './int8';
import type { Range } from '../onnx/quantize';
import { compareProbabilities, parityPixels, parityProblem, type ParityPixels } from './parity';
import { completeExport, createExportRecord, deleteExport, exportInfo, failExport, failInterruptedExports, storedProbabilities } from './records';
import { runModel, runToOnnx, type RunModel } from './run-model';
import { sampleFiles } from './samples';
import { TfjsPredictor } from './tfjs-predictor';
import { zipFolder } from './zip';
import { FeatureExtractor } from '../backbones';
import { backboneOf } from '../training';
import { STAGING_MARK, sweepExportStaging } from '../../store/recovery';

export interface ExportRequest {
  runId: number;
  format: ExportFormat;
  /** The chosen folder: the export goes into <dir>/<name>/. */
  dir: string;
  /** A folder name; by default "<project>-run-<id>" (with -2, -3 ... when taken). */
  name?: string;
  zip?: boolean;
}

export interface ExportOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number | null, phase: string) => void;
  /** Called once the export is recorded and its folder name is final. */
  onStarted?: (exportId: number, folder: string) => void;
  /** Tests: replaces the ONNX bytes before they are checked (to prove a bad model is refused). */
  transformOnnx?: (bytes: Uint8Array) => Uint8Array;
  /** Tests: changes the calibrated activation ranges before the int8 model is made (to prove a bad one is refused). */
  adjustInt8Ranges?: (ranges: Map<string, Range>) => void;
  /** Bench and tests: the int8 calibration methods to try, in order (default: min/max, then percentile, then MSE). */
  calibration?: CalibrationMethod[];
}

/** Where the export goes, refusing names that would leave the chosen folder. */
export function exportTarget(project: Project, request: ExportRequest): { dir: string; name: string; folder: string } {
  const dir = path.resolve(request.dir);
  const taken = (name: string) => fs.existsSync(path.join(dir, name)) || fs.existsSync(path.join(dir, `${name}.zip`));
  if (request.name !== undefined) {
    const name = requireExportName(request.name);
    const folder = inside(dir, name);
    if (taken(name)) throw new LoupeError('ALREADY_EXISTS', `${folder} already exists: choose another name or folder.`);
    return { dir, name, folder };
  }
  const base = cleanExportName(`${project.name}-run-${request.runId}`);
  let name = base;
  for (let i = 2; taken(name); i++) name = `${base}-${i}`;
  return { dir, name, folder: inside(dir, name) };
}

/** Every file under `dir`, relative, sorted. */
function listFiles(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((d) => d.isFile() && !(d.name === STAGING_MARK && d.parentPath === dir))
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

export async function exportRun(project: Project, request: ExportRequest, options: ExportOptions = {}): Promise<ExportResult> {
  const { signal, onProgress } = options;
  const started = performance.now();
  const model = runModel(project, request.runId);
  if (model.onnxFile && request.format !== 'onnx' && request.format !== 'onnx-int8') {
    const what = model.run.backend === 'pytorch' ? 'was trained by PyTorch outside Loupe' : `is built on an ONNX backbone (${model.run.config.backbone?.title})`;
    throw new LoupeError('NOT_SUPPORTED', `Run #${model.run.id} ${what}: it exports as ONNX only (--format onnx or onnx-int8).`);
  }
  const target = exportTarget(project, request);
  fs.mkdirSync(target.dir, { recursive: true });
  const onnx = request.format === 'onnx' || request.format === 'onnx-int8' || request.format === 'all';
  const tfjs = request.format === 'tfjs' || request.format === 'all';
  const int8 = request.format === 'onnx-int8';
  const tflite = request.format === 'tflite' || request.format === 'tflite-int8' || request.format === 'all';

  // An export still "running" in the table was cut off with its process (exports of a project
  // run one at a time, in the process that holds it open).
  const cutOff = failInterruptedExports(project.db);
  for (const e of cutOff) sweepExportStaging(e.id, e.path);
  const exportId = createExportRecord(project.db, model.run.id, request.format, target.folder);
  options.onStarted?.(exportId, target.folder);
  const staging = inside(target.dir, `.${target.name}.partial-${randomBytes(4).toString('hex')}`);
  const predictor = new TfjsPredictor();
  let parity: ExportParity | null = null;
  let int8Check: Int8Check | null = null;
  let tfliteCheck: TfliteCheck | null = null;
  const onAbort = () => void predictor.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    fs.mkdirSync(staging);
    // Names this folder as export `exportId`'s, for the sweep after a crash (store/recovery.ts).
    fs.writeFileSync(path.join(staging, STAGING_MARK), JSON.stringify({ exportId }));
    const write = (rel: string, data: string | Uint8Array) => {
      const file = inside(staging, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, data);
    };

    onProgress?.(0, null, onnx ? 'Converting to ONNX' : 'Copying the model');
    let onnxBytes: Uint8Array | null = null;
    if (onnx) {
      onnxBytes = runToOnnx(model, project.name).bytes;
      if (options.transformOnnx) onnxBytes = options.transformOnnx(onnxBytes);
      write(ONNX_FILE, onnxBytes);
    }
    if (tfjs) {
      for (const f of [MODEL_JSON, WEIGHTS_BIN]) write(path.join(TFJS_DIR, f), fs.readFileSync(path.join(model.modelDir, f)));
    }
    if (signal) throwIfCancelled(signal);

    const checked = await checkParity(project, model, { staging, onnxBytes, tfjs, predictor, signal, onProgress });
    parity = checked.parity;
    const problem = checked.problems[0];
    if (problem) throw new LoupeError('INTERNAL', problem);
    if (tflite) {
      const made = await tfliteExport(project, model, checked.images, checked.reference, { int8: request.format === 'tflite-int8', signal, onProgress, methods: options.calibration });
      tfliteCheck = made.check;
      parity ??= made.check.parity;
      write(TFLITE_FILE, made.float);
      if (made.int8) write(TFLITE_INT8_FILE, made.int8);
    }
    if (!parity) throw new LoupeError('INTERNAL', 'No exported model was checked.');
    if (int8 && onnxBytes && checked.onnxProbabilities) {
      const quantized = await int8Export(project, model.run, model.spec, { bytes: onnxBytes, probabilities: checked.onnxProbabilities }, checked.images, {
        signal,
        onProgress,
        adjustRanges: options.adjustInt8Ranges,
        methods: options.calibration,
      });
      int8Check = quantized.check;
      write(INT8_FILE, quantized.bytes);
    }

    onProgress?.(0, null, 'Writing files');
    write(LABELS_FILE, labelsText(model.labels));
    write(PREPROCESS_FILE, preprocessJson(model.spec, request.format));
    for (const [rel, text] of Object.entries(sampleFiles({ onnx, tfjs, tflite, int8: request.format === 'onnx-int8' || request.format === 'tflite-int8' }, ortVersion()))) write(rel, text);
    const files = [...listFiles(staging), CARD_FILE].sort();
    write(
      CARD_FILE,
      modelCard({
        projectName: project.name,
        run: model.run,
        labels: model.labels,
        format: request.format,
        spec: model.spec,
        parity,
        tfjsParity: checked.tfjsParity,
        paritySplit: checked.split,
        int8: int8Check,
        tflite: tfliteCheck,
        metrics: storedMetrics(project.db, model.run.id, model.labels),
        version: loupeVersion(),
        ortVersion: ortVersion(),
        date: new Date(),
        files,
      }),
    );
    if (signal) throwIfCancelled(signal);

    if (request.zip) {
      onProgress?.(0, null, 'Zipping');
      // Written inside the staging folder, so a crash leaves nothing but that folder to sweep.
      zipFolder(staging, target.name, files, inside(target.dir, `${target.name}.zip`), path.join(staging, '.zip.partial'));
    }
    fs.rmSync(path.join(staging, STAGING_MARK));
    fs.renameSync(staging, target.folder);
    completeExport(project.db, exportId, parity);
    return {
      ...exportInfo(project.db, exportId)!,
      parity,
      files,
      paritySplit: checked.split,
      int8: int8Check,
      tflite: tfliteCheck,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    const cancelled = signal?.aborted === true;
    if (cancelled) {
      fs.rmSync(inside(target.dir, `${target.name}.zip`), { force: true });
      deleteExport(project.db, exportId);
      throw cancelledError();
    }
    failExport(project.db, exportId, err instanceof Error ? err.message : String(err), parity);
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await predictor.close();
  }
}

/**
 * The reference for a run on an ONNX backbone (there is no TF.js model of the whole): the
 * backbone's features through onnxruntime, then TF.js on the trained head.
 */
async function headReference(model: RunModel, images: { pixels: Uint8Array; count: number }, run: ParityRun): Promise<Float32Array> {
  const transfer = model.run.config.backbone!;
  const extractor = await FeatureExtractor.create(backboneOf(transfer), transfer.resolution);
  const size = transfer.resolution * transfer.resolution * 3;
  const features = new Float32Array(images.count * transfer.features);
  try {
    for (let start = 0; start < images.count; start += 32) {
      if (run.signal) throwIfCancelled(run.signal);
      const n = Math.min(32, images.count - start);
      features.set(await extractor.run(Float32Array.from(images.pixels.subarray(start * size, (start + n) * size)), n), start * transfer.features);
    }
  } finally {
    await extractor.release();
  }
  const reply = await run.predictor.predict({ modelDir: model.modelDir, pixels: new Uint8Array(0), values: features, count: images.count, shape: [transfer.features], scale: 1, offset: 0 });
  return reply.probs;
}

/** A PyTorch-trained run's own probabilities of the parity images, as train.py wrote them (stored by import-run). */
function storedReference(project: Project, runId: number, images: ParityPixels): Float32Array {
  const blobs = storedProbabilities(project.db, runId, images.imageIds);
  if (blobs.length === 0 || blobs.some((b) => !b)) {
    throw new LoupeError('INTERNAL', `Run #${runId} has no stored predictions of its own for the images to check the export on.`);
  }
  // Copied: a Buffer from SQLite may not be 4-byte aligned.
  const out = new Float32Array(blobs.reduce((n, b) => n + b!.byteLength / 4, 0));
  new Uint8Array(out.buffer).set(Buffer.concat(blobs as Buffer[]));
  return out;
}

interface ParityRun {
  staging: string;
  onnxBytes: Uint8Array | null;
  tfjs: boolean;
  predictor: TfjsPredictor;
  signal?: AbortSignal;
  onProgress?: ExportOptions['onProgress'];
}

/**
 * TF.js on the run's own model is the reference. The ONNX model runs through onnxruntime on the
 * same pixels; the exported TF.js files are loaded with tf.loadLayersModel and must agree too.
 * The parity of record is the ONNX one when there is an ONNX model.
 */
async function checkParity(project: Project, model: RunModel, run: ParityRun) {
  const { spec } = model;
  const phase = 'Checking predictions';
  // A run trained by PyTorch: its reference is its own predictions (stored at import), on test or val.
  const imported = model.run.backend === 'pytorch';
  const images = await parityPixels(project, model.run.id, spec, {
    signal: run.signal,
    onProgress: (d, t) => run.onProgress?.(d, t, 'Reading test images'),
    ...(imported ? { splits: ['test', 'val'] as const } : {}),
  });
  const request = {
    pixels: images.pixels,
    count: images.count,
    shape: [spec.height, spec.width, spec.channels] as [number, number, number],
    scale: spec.normalization.scale,
    offset: spec.normalization.offset,
  };
  const steps = 1 + (run.onnxBytes ? 1 : 0) + (run.tfjs ? 1 : 0);
  let step = 0;
  const progress = () => run.onProgress?.(images.count * step++, images.count * steps, phase);
  progress();
  const predicted = (p: Promise<{ probs: Float32Array }>) =>
    p.catch((err: unknown) => {
      if (run.signal?.aborted) throw cancelledError();
      throw err;
    });
  const reference = imported
    ? storedReference(project, model.run.id, images)
    : model.onnxFile
    ? await headReference(model, images, run)
    : (await predicted(run.predictor.predict({ ...request, modelDir: model.modelDir }))).probs;
  progress();
  const problems: string[] = [];
  let onnxParity: ExportParity | null = null;
  let onnxProbabilities: Float32Array | null = null;
  let tfjsParity: ExportParity | null = null;
  if (run.onnxBytes) {
    const ort = await onnxruntime();
    // The CPU provider: what every machine the model goes to has, and the one that checks numerics.
    const session = await ort.InferenceSession.create(run.onnxBytes, { executionProviders: ['cpu'] }).catch((err: unknown) => {
      throw new LoupeError('INTERNAL', `onnxruntime cannot load the exported model: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    });
    try {
      const size = spec.width * spec.height * spec.channels;
      const out: Float32Array[] = [];
      for (let start = 0; start < images.count; start += 64) {
        if (run.signal) throwIfCancelled(run.signal);
        const n = Math.min(64, images.count - start);
        const input = Float32Array.from(images.pixels.subarray(start * size, (start + n) * size));
        const result = await session.run({ pixels: new ort.Tensor('float32', input, [n, spec.height, spec.width, spec.channels]) });
        out.push(result.probabilities.data as Float32Array);
      }
      const all = new Float32Array(out.reduce((n, a) => n + a.length, 0));
      out.reduce((offset, a) => (all.set(a, offset), offset + a.length), 0);
      onnxProbabilities = all;
      onnxParity = compareProbabilities(reference, all, images.count, 'onnxruntime');
      const problem = parityProblem(onnxParity);
      if (problem) problems.push(problem);
    } finally {
      await session.release();
    }
    progress();
  }
  if (run.tfjs) {
    const copy = (await predicted(run.predictor.predict({ ...request, modelDir: path.join(run.staging, TFJS_DIR) }))).probs;
    tfjsParity = compareProbabilities(reference, copy, images.count, 'tfjs');
    const problem = parityProblem(tfjsParity);
    if (problem) problems.push(problem);
    progress();
  }
  return { parity: onnxParity ?? tfjsParity, tfjsParity: onnxParity ? tfjsParity : null, problems, split: images.split, images, onnxProbabilities, reference };
}
