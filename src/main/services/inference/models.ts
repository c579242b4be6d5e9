// The models predictions run on: an exported model (its folder, or its model.onnx alone) or a
// run of the open project (converted in memory). Each comes with its labels and the
// preprocessing it expects; a file that is not a Loupe model is refused with why.

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { PreprocessSpec } from '../../../shared/types';
import type { Project } from '../../store/project';
import { LABELS_FILE, ONNX_FILE, PREPROCESS_FILE, TFJS_DIR, parseLabels } from '../export';
import { FLOAT, inspectOnnx } from '../onnx/inspect';
import { META_LABELS, META_PREPROCESS, modelStamp, runModel, runToOnnx } from '../export';

export interface PredictableModel {
  /** Cache key: the same key is the same model bytes. */
  key: string;
  /** For people: "run #3", or the file. */
  title: string;
  /** A model.onnx path, or the model's bytes. */
  source: string | Uint8Array;
  labels: string[];
  spec: PreprocessSpec;
  input: string;
  output: string;
}

const MAX_MODEL_BYTES = 2 ** 31 - 1;

function parseSpec(value: unknown, where: string): PreprocessSpec {
  const v = value as Partial<PreprocessSpec> | null;
  const n = v?.normalization;
  const ok =
    v !== null &&
    typeof v === 'object' &&
    Number.isInteger(v.width) &&
    Number.isInteger(v.height) &&
    (v.channels === 1 || v.channels === 3) &&
    (v.resize === 'cover' || v.resize === 'fill') &&
    typeof n?.scale === 'number' &&
    typeof n?.offset === 'number';
  if (!ok) throw new LoupeError('INVALID_INPUT', `${where} is not a Loupe preprocessing spec.`);
  return { width: v.width!, height: v.height!, channels: v.channels!, resize: v.resize!, layout: 'NHWC', normalization: { scale: n.scale, offset: n.offset, inputRange: [0, 255] } };
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    throw new LoupeError('INVALID_INPUT', `${file} is not valid JSON.`);
  }
}

/** An exported model: a folder holding model.onnx, or a model.onnx file. */
export function exportedModel(target: string): PredictableModel {
  const resolved = path.resolve(target);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(resolved);
  } catch {
    throw new LoupeError('NOT_FOUND', `${resolved} does not exist.`);
  }
  let file = resolved;
  if (stat.isDirectory()) {
    file = path.join(resolved, ONNX_FILE);
    if (!fs.existsSync(file)) {
      throw new LoupeError(
        'INVALID_INPUT',
        fs.existsSync(path.join(resolved, TFJS_DIR, 'model.json'))
          ? `${resolved} holds only a TensorFlow.js model; predicting needs ${ONNX_FILE} (export with --format onnx or all).`
          : `${resolved} is not an exported model: it has no ${ONNX_FILE}.`,
      );
    }
    stat = fs.statSync(file);
  }
  if (stat.size > MAX_MODEL_BYTES) throw new LoupeError('INVALID_INPUT', `${file} is larger than 2 GB.`);
  const key = `file:${file}:${stat.mtimeMs}:${stat.size}`;
  const known = inspected.get(key);
  if (known) return known;
  const model = readExported(file, key);
  if (inspected.size >= 8) inspected.delete(inspected.keys().next().value!);
  inspected.set(key, model);
  return model;
}

/** Exported models already read, by file and modification: predicting in batches reads a model once. */
const inspected = new Map<string, PredictableModel>();

function readExported(file: string, key: string): PredictableModel {
  const bytes = fs.readFileSync(file);
  const summary = inspectOnnx(bytes, file);
  const dir = path.dirname(file);

  // Loupe embeds labels and preprocessing in the model; preprocess.json and labels.txt beside
  // it describe models exported without them.
  let spec: PreprocessSpec;
  let labels: string[];
  if (summary.metadata[META_PREPROCESS] && summary.metadata[META_LABELS]) {
    spec = parseSpec(JSON.parse(summary.metadata[META_PREPROCESS]), `The preprocessing stored in ${file}`);
    labels = JSON.parse(summary.metadata[META_LABELS]) as string[];
  } else if (fs.existsSync(path.join(dir, PREPROCESS_FILE)) && fs.existsSync(path.join(dir, LABELS_FILE))) {
    spec = parseSpec(readJson(path.join(dir, PREPROCESS_FILE)), path.join(dir, PREPROCESS_FILE));
    labels = parseLabels(fs.readFileSync(path.join(dir, LABELS_FILE), 'utf8'));
  } else {
    throw new LoupeError(
      'INVALID_INPUT',
      `${file} is not a model Loupe exported${summary.producer ? ` (its producer is "${summary.producer}")` : ''}: it carries no labels or preprocessing, and there is no ${PREPROCESS_FILE} and ${LABELS_FILE} beside it.`,
    );
  }

  // The graph must take one image batch and give one probability per label.
  const [input] = summary.inputs;
  const [output] = summary.outputs;
  const expected = [spec.height, spec.width, spec.channels];
  const inputOk = summary.inputs.length === 1 && input.elemType === FLOAT && input.dims.length === 4 && input.dims.slice(1).every((d, i) => d === null || d === expected[i]);
  const outputOk = summary.outputs.length === 1 && output.dims.length === 2 && (output.dims[1] === null || output.dims[1] === labels.length);
  if (!inputOk || !outputOk) {
    const shape = (t: { dims: (number | null)[] }) => `[${t.dims.map((d) => d ?? 'N').join(', ')}]`;
    throw new LoupeError(
      'INVALID_INPUT',
      `${file} does not fit its labels and preprocessing: it takes ${summary.inputs.map(shape).join(', ')} and gives ${summary.outputs.map(shape).join(', ')}, ` +
        `where a ${spec.width}x${spec.height}x${spec.channels} classifier of ${labels.length} classes takes [N, ${expected.join(', ')}] and gives [N, ${labels.length}].`,
    );
  }
  return { key, title: file, source: file, labels, spec, input: input.name, output: output.name };
}

const converted = new Map<string, Uint8Array>();

/** A run of the project, converted to ONNX in memory (kept for the next call). */
export function projectRunModel(project: Project, runId: number): PredictableModel {
  const model = runModel(project, runId);
  const key = `run:${project.root}:${runId}:${modelStamp(model)}`;
  let bytes = converted.get(key);
  if (!bytes) {
    bytes = runToOnnx(model, project.name).bytes;
    converted.clear(); // one run's graph at a time: they are rebuilt in milliseconds
    converted.set(key, bytes);
  }
  return { key, title: `run #${runId}`, source: bytes, labels: model.labels, spec: model.spec, input: 'pixels', output: 'probabilities' };
}
