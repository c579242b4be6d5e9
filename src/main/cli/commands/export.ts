// `loupe export` and `loupe predict`: a run's model out to a folder (checked before it is called
// done), and predictions with an exported model, no project needed.

import fs from 'node:fs';
import path from 'node:path';
import { percent, seconds } from '../../../shared/format';
import { EXPORT_FORMATS, type ExportResult, type PredictResult } from '../../../shared/types';
import { exportRun } from '../../services/export/export';
import { defaultRunId } from '../../services/export/run-model';
import { exportedModel } from '../../services/inference/models';
import { DEFAULT_TOP, predict, SessionCache, type PredictInput } from '../../services/inference/predict';
import { runDetails } from '../../services/training';
import { Project } from '../../store/project';
import { exportFormat, id, topK } from '../../../shared/api';
import { optionHelp, requirePositional, schemaOption, UsageError, type CliIO, type Command } from '../command';
import { progressLine } from '../progress';

/** `reference`: what the ONNX model was checked against (a run trained by PyTorch: its own stored predictions). */
export function describeExport(r: ExportResult, reference = 'TensorFlow.js'): string[] {
  const what = { all: 'ONNX, TFLite and TF.js', onnx: 'ONNX', 'onnx-int8': 'ONNX (float and int8)', tflite: 'TFLite', 'tflite-int8': 'TFLite (float and int8)', tfjs: 'TF.js' }[r.format];
  const lines = [`Export #${r.id}: run #${r.runId} as ${what} in ${r.path}${r.zipPath ? ` (and ${r.zipPath})` : ''}.`];
  const p = r.parity;
  if (p) {
    const source = r.paritySplit ? `${p.images} ${r.paritySplit} images` : `${p.images} generated images`;
    lines.push(
      p.against === 'onnxruntime' || p.against === 'tflite'
        ? `Checked: ${p.against === 'tflite' ? 'the TFLite interpreter' : 'onnxruntime'} vs ${reference} on ${source}: top-1 agreement ${percent(p.top1Agreement)}, max |Δp| ${p.maxAbsDiff.toExponential(2)}.`
        : `Checked: the TF.js files load and predict ${source} as the run's model does (max |Δp| ${p.maxAbsDiff.toExponential(2)}).`,
    );
  }
  const q = r.int8;
  if (q) {
    const { float, int8 } = q.speed;
    lines.push(
      `int8 (model-int8.onnx, calibrated on ${q.calibration.images} training images): top-1 agreement with float ${percent(q.top1Agreement)}` +
        (q.accuracy ? `, accuracy ${percent(q.accuracy.float)} float vs ${percent(q.accuracy.int8)} int8` : '') +
        ` on ${q.images} images; ${(q.bytes.float / 1e6).toFixed(2)} MB vs ${(q.bytes.int8 / 1e6).toFixed(2)} MB.`,
      `Speed here (onnxruntime CPU, ${q.speed.threads} threads): ${float.imagesPerSecond.toFixed(0)} vs ${int8.imagesPerSecond.toFixed(0)} images/s at batch ${float.batch}, ` +
        `batch-1 latency ${float.latencyMs.toFixed(2)} ms vs ${int8.latencyMs.toFixed(2)} ms (float vs int8).`,
    );
  }
  const t = r.tflite;
  if (t) {
    if (p?.against !== 'tflite') lines.push(`Checked: the TFLite interpreter vs TensorFlow.js on the same images: top-1 agreement ${percent(t.parity.top1Agreement)}, max |Δp| ${t.parity.maxAbsDiff.toExponential(2)}.`);
    lines.push(`TFLite: model.tflite ${(t.bytes / 1e6).toFixed(2)} MB, ${t.latencyMs.toFixed(2)} ms an image in the interpreter (one thread).`);
    const q8 = t.int8;
    if (q8) {
      lines.push(
        `int8 TFLite (model-int8.tflite, ${q8.calibration.method} calibration on ${q8.calibration.images} training images): top-1 agreement with float ${percent(q8.top1Agreement)}` +
          (q8.accuracy ? `, accuracy ${percent(q8.accuracy.float)} float vs ${percent(q8.accuracy.int8)} int8` : '') +
          ` on ${q8.images} images; ${(q8.bytes / 1e6).toFixed(2)} MB, ${q8.latencyMs.toFixed(2)} ms an image (float ${t.latencyMs.toFixed(2)} ms). Input int8 = pixel - 128.`,
      );
    }
  }
  return lines;
}

export const exportCommand: Command = {
  name: 'export',
  usage: 'loupe export <project> [--run ID] --format onnx|onnx-int8|tflite|tflite-int8|tfjs|all --out DIR [--name NAME] [--zip] [--json]',
  summary:
    'Export a run\'s model (default: the best run) into DIR/NAME/: model.onnx (and model-int8.onnx for onnx-int8), model.tflite (and model-int8.tflite for tflite-int8) and/or tfjs/ (all: every float format), labels.txt, preprocess.json, model-card.md, samples/. Each model is checked against TensorFlow.js in its own runtime first; int8 models against the float one.',
  options: {
    run: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
    name: { type: 'string' },
    zip: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(positionals, values, io: CliIO) {
    const dir = requirePositional(positionals, 0, 'the project folder', this.usage);
    if (values.format === undefined) throw new UsageError(`Missing --format (${EXPORT_FORMATS.join(', ')}).\nUsage: ${this.usage}`);
    const format = schemaOption(values.format, 'format', exportFormat)!;
    if (typeof values.out !== 'string' || values.out === '') throw new UsageError(`Missing --out DIR (the folder the export goes into).\nUsage: ${this.usage}`);
    const runOption = schemaOption(values.run, 'run', id);
    const project = Project.open(dir);
    try {
      const controller = new AbortController();
      void io.interrupted.then(() => controller.abort());
      const line = progressLine((t) => process.stderr.write(t), { tty: Boolean(process.stderr.isTTY), unit: 'images' });
      let result: ExportResult;
      try {
        result = await exportRun(
          project,
          { runId: runOption ?? defaultRunId(project), format, dir: values.out, name: values.name as string | undefined, zip: values.zip === true },
          { signal: controller.signal, onProgress: (done, total, phase) => line.update(done, total, phase) },
        );
      } finally {
        line.end();
      }
      if (values.json) io.json(result);
      else for (const l of describeExport(result, runDetails(project.db, result.runId).backend === 'pytorch' ? "PyTorch's own predictions" : undefined)) io.out(l);
      return 0;
    } catch (err) {
      if ((err as { code?: string }).code === 'CANCELLED') {
        io.err('Cancelled. Nothing was written.');
        return 130;
      }
      throw err;
    } finally {
      project.close();
    }
  },
};

const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|gif|tiff?|avif|bmp)$/i;

/** The images to predict: files as given, folders searched (recursively) for image files. */
export function expandInputs(inputs: string[]): string[] {
  const out: string[] = [];
  for (const input of inputs) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(input);
    } catch {
      out.push(input); // reported as missing, with the others
      continue;
    }
    if (!stat.isDirectory()) {
      out.push(input);
      continue;
    }
    const found = (fs.readdirSync(input, { recursive: true, withFileTypes: true }) as fs.Dirent[])
      .filter((d) => d.isFile() && IMAGE_EXTENSIONS.test(d.name) && !d.name.startsWith('.'))
      .map((d) => path.join(d.parentPath, d.name))
      .sort();
    out.push(...found);
  }
  return out;
}

function describePrediction(p: PredictResult['predictions'][number]): string {
  return `${p.name}\t${p.top.map((c) => `${c.label} ${percent(c.probability)}`).join('  ')}`;
}

export const predictCommand: Command = {
  name: 'predict',
  usage: 'loupe predict <exported-model-dir|model.onnx> <image|dir...> [--top K] [--json]',
  summary: 'Predict images (folders are searched for images) with an exported model, through onnxruntime; prints the top classes of each.',
  help: [optionHelp('--top K', 'classes shown for each image', topK.limits), optionHelp('--json', 'print one JSON object')],
  options: { top: { type: 'string' }, json: { type: 'boolean' } },
  async run(positionals, values, io: CliIO) {
    const modelPath = requirePositional(positionals, 0, 'the exported model (folder or model.onnx)', this.usage);
    if (positionals.length < 2) throw new UsageError(`Missing the images (files or folders).\nUsage: ${this.usage}`);
    const top = schemaOption(values.top, 'top', topK) ?? DEFAULT_TOP;
    const model = exportedModel(modelPath);
    const files = expandInputs(positionals.slice(1));
    if (files.length === 0) throw new UsageError('No images found in the folders given.');
    const cache = new SessionCache();
    const controller = new AbortController();
    void io.interrupted.then(() => controller.abort());
    const line = progressLine((t) => process.stderr.write(t), { tty: Boolean(process.stderr.isTTY), unit: 'images' });
    try {
      const inputs: PredictInput[] = files.map((f) => ({ name: f, source: path.resolve(f) }));
      const result = await predict(cache, model, inputs, {
        top,
        signal: controller.signal,
        onProgress: files.length > 256 ? (done, total) => line.update(done, total, 'Predicting') : undefined,
      });
      line.end();
      if (values.json) io.json(result);
      else for (const p of result.predictions) if (!p.error) io.out(describePrediction(p));
      const failed = result.predictions.filter((p) => p.error);
      for (const p of failed) io.err(`${p.name}: ${p.error}`);
      if (!values.json) {
        const ok = result.predictions.length - failed.length;
        io.err(`${ok} image${ok === 1 ? '' : 's'} predicted on ${result.provider} in ${seconds(result.seconds, 2)}${failed.length ? `; ${failed.length} could not be read` : ''}.`);
      }
      return failed.length > 0 ? 1 : 0;
    } catch (err) {
      line.end();
      if ((err as { code?: string }).code === 'CANCELLED') return 130;
      throw err;
    } finally {
      await cache.close();
    }
  },
};
