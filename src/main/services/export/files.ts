// The small files that travel with every export: labels.txt, preprocess.json and the model card.

import { ARCH_INFO, type CalibrationMethod, type ExportFormat, type ExportParity, type FineTuneConfig, type Int8Check, type PreprocessSpec, type RunDetails, type Split, type TfliteCheck } from '../../../shared/types';
import { keptText } from '../../../shared/kept-epoch';
import { percent } from '../../../shared/format';
import type { DB } from '../../store/database';
import { INPUT_NAME, OUTPUT_NAME } from '../onnx/convert';
import { labeledPredictions } from './records';

export const ONNX_FILE = 'model.onnx';
export const INT8_FILE = 'model-int8.onnx';
export const TFLITE_FILE = 'model.tflite';
export const TFLITE_INT8_FILE = 'model-int8.tflite';
export const TFJS_DIR = 'tfjs';
export const LABELS_FILE = 'labels.txt';
export const PREPROCESS_FILE = 'preprocess.json';
export const CARD_FILE = 'model-card.md';
/** Largest |Δp| an ONNX export may differ from TF.js by, on any class of any image. */
export const PARITY_TOLERANCE = 1e-4;

/**
 * Everything a reader of labels.txt may take for a line break (Python's str.splitlines() also
 * splits on \v, \f, \x1c-\x1e, \x85, U+2028 and U+2029), and other control characters.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const NOT_IN_A_LINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

/**
 * One label per line, in the model's output order (line i is output i), whatever a class is
 * called: a name can never add a line and shift every label after it.
 */
export function labelsText(labels: string[]): string {
  return labels.map((l) => l.replace(NOT_IN_A_LINE, ' ')).join('\n') + '\n';
}

export function parseLabels(text: string): string[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** preprocess.json: the spec, and where each format expects the normalization. */
export function preprocessJson(spec: PreprocessSpec, format: ExportFormat): string {
  const file: Record<string, unknown> = { ...spec, labels: LABELS_FILE };
  if (format === 'onnx' || format === 'onnx-int8' || format === 'all') {
    file.onnx = { file: ONNX_FILE, input: INPUT_NAME, output: OUTPUT_NAME, normalizationInGraph: true, note: 'Feed raw 0..255 pixels; the graph scales them.' };
  }
  if (format === 'onnx-int8') {
    file.onnxInt8 = { file: INT8_FILE, input: INPUT_NAME, output: OUTPUT_NAME, normalizationInGraph: true, note: 'The same contract as model.onnx, with int8 weights and activations (QDQ).' };
  }
  if (format === 'tflite' || format === 'tflite-int8' || format === 'all') {
    file.tflite = { file: TFLITE_FILE, input: INPUT_NAME, output: OUTPUT_NAME, shape: [1, spec.height, spec.width, spec.channels], normalizationInGraph: true, note: 'Feed raw 0..255 pixels (float32, batch 1); the graph scales them.' };
  }
  if (format === 'tflite-int8') {
    file.tfliteInt8 = {
      file: TFLITE_INT8_FILE,
      input: INPUT_NAME,
      output: OUTPUT_NAME,
      shape: [1, spec.height, spec.width, spec.channels],
      normalizationInGraph: true,
      note: 'Full-integer: int8 input q = pixel - 128 (scale 1, zero point -128); int8 output, probability = scale * (q - zero point) with the output tensor\'s parameters.',
    };
  }
  if (format === 'tfjs' || format === 'all') {
    file.tfjs = { file: `${TFJS_DIR}/model.json`, normalizationInGraph: false, note: 'Apply x * scale + offset before predict.' };
  }
  return JSON.stringify(file, null, 2) + '\n';
}

export interface ClassRow {
  label: string;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  support: number;
}

/** Accuracy and per-class precision/recall/F1 from a run's stored predictions on one split. */
export function storedMetrics(db: DB, runId: number, labels: string[]): { split: Split; images: number; accuracy: number; macroF1: number; classes: ClassRow[] } | null {
  for (const split of ['test', 'val'] as const) {
    const rows = labeledPredictions(db, runId, split);
    if (rows.length === 0) continue;
    const k = labels.length;
    const tp = new Array<number>(k).fill(0);
    const support = new Array<number>(k).fill(0);
    const predicted = new Array<number>(k).fill(0);
    for (const { t, p } of rows) {
      if (t < k) support[t]++;
      if (p < k) predicted[p]++;
      if (t === p && t < k) tp[t]++;
    }
    const classes = labels.map((label, i) => {
      const precision = predicted[i] > 0 ? tp[i] / predicted[i] : null;
      const recall = support[i] > 0 ? tp[i] / support[i] : null;
      const f1 = precision !== null && recall !== null && precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : precision === null && recall === null ? null : 0;
      return { label, precision, recall, f1, support: support[i] };
    });
    const scored = classes.filter((c) => c.f1 !== null);
    return {
      split,
      images: rows.length,
      accuracy: tp.reduce((a, b) => a + b, 0) / rows.length,
      macroF1: scored.reduce((a, c) => a + (c.f1 ?? 0), 0) / Math.max(1, scored.length),
      classes,
    };
  }
  return null;
}

/**
 * A name (project, class, device) in the model card, as inert text: an inline code span, in
 * which Markdown renders no links, images, HTML or emphasis. Line breaks and control characters
 * become spaces, characters that can disguise text are written out, and in a table, pipes are
 * escaped so a name stays in its cell.
 */
function cell(s: string, inTable = false): string {
  let text = s
    .replace(NOT_IN_A_LINE, ' ')
    .replace(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u{${c.codePointAt(0)!.toString(16).toUpperCase()}}`);
  if (inTable) text = text.replace(/\|/g, '\\|');
  const fence = '`'.repeat(Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length)) + 1);
  const pad = text.startsWith('`') || text.endsWith('`') || text.trim() !== text ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

export interface CardInput {
  projectName: string;
  run: RunDetails;
  labels: string[];
  format: ExportFormat;
  spec: PreprocessSpec;
  parity: ExportParity;
  /** For ONNX + TF.js exports: the check of the TF.js files, beside the ONNX one. */
  tfjsParity: ExportParity | null;
  paritySplit: Split | null;
  /** For onnx-int8 exports: the int8 model's check and figures. */
  int8?: Int8Check | null;
  /** For TFLite exports: the interpreter's checks and figures. */
  tflite?: TfliteCheck | null;
  metrics: ReturnType<typeof storedMetrics>;
  version: string;
  ortVersion: string;
  date: Date;
  files: string[];
}

export function modelCard(c: CardInput): string {
  const { run, spec } = c;
  const arch = ARCH_INFO[run.arch] ?? { title: run.arch, description: '' };
  const colour = spec.channels === 1 ? 'greyscale' : 'RGB';
  const lines = [
    `# ${cell(c.projectName)} — run #${run.id} (${arch.title})`,
    '',
    `Exported by Loupe ${c.version} on ${c.date.toISOString().slice(0, 10)} (${c.date.toISOString()}).`,
    '',
    '## Model',
    '',
    `- Architecture: ${arch.title} (\`${run.arch}\`). ${arch.description}`,
    ...(run.config.backbone
      ? [
          `- Backbone: ${cell(run.config.backbone.title)} (${cell(run.config.backbone.copy)}), ${fineTunedText(run.config.backbone.fineTune)}, inside the model; its ${run.config.backbone.features} features at ${run.config.backbone.resolution}x${run.config.backbone.resolution} feed the head. Mind the backbone's own license.`,
        ]
      : []),
    `- Input: ${spec.width}x${spec.height} ${colour} (${spec.channels} channel${spec.channels === 1 ? '' : 's'}), NHWC. Resize "${spec.resize}"${spec.resize === 'cover' ? ' (scale to fill, then crop the centre)' : ''}; EXIF orientation applied first.`,
    `- Normalization: pixels 0..255 times ${spec.normalization.scale.toPrecision(6)}${spec.normalization.offset ? ` plus ${spec.normalization.offset}` : ''}` +
      (c.format === 'tfjs'
        ? ' (apply it before predicting).'
        : ` — inside ${inGraph(c.format)} (feed raw pixels)${c.format === 'all' ? '; the TF.js model expects it applied' : ''}.`),
    `- Output: probabilities over ${c.labels.length} classes, in the order of \`${LABELS_FILE}\`.`,
    `- ${run.backend === 'pytorch' ? `Trained by PyTorch outside Loupe from a training bundle, on ${cell(run.device)}` : `Trained in Loupe on the ${run.backend} backend (${cell(run.device)})`}, seed ${run.seed}, ${run.epochs} of ${run.plannedEpochs} epochs (${run.kept ? `kept: ${keptText(run.kept)}` : `best epoch ${run.bestEpoch ?? '–'}`})` +
      `${run.seconds !== null ? `, ${Math.round(run.seconds)} s` : ''}.`,
    '',
    '## Data',
    '',
    `Project ${cell(c.projectName)}: ${run.splits.train} training, ${run.splits.val} validation and ${run.splits.test} test images in ${c.labels.length} classes.`,
    '',
    '## Metrics',
    '',
  ];
  const m = c.metrics;
  if (m) {
    lines.push(
      `On the ${m.split === 'test' ? 'test' : 'validation'} split (${m.images} images): accuracy ${percent(m.accuracy)}, macro F1 ${percent(m.macroF1)}.`,
      '',
      '| class | precision | recall | F1 | images |',
      '|---|---:|---:|---:|---:|',
      ...m.classes.map((r) => `| ${cell(r.label, true)} | ${percent(r.precision)} | ${percent(r.recall)} | ${percent(r.f1)} | ${r.support} |`),
    );
  } else {
    lines.push('The run recorded no predictions on a validation or test split.');
  }
  const p = c.parity;
  const source = c.paritySplit ? `${p.images} ${c.paritySplit === 'test' ? 'test' : c.paritySplit === 'val' ? 'validation' : 'training'} images` : `${p.images} generated images (no image of the run could be read)`;
  lines.push(
    '',
    '## Verification',
    '',
    p.against === 'tflite'
      ? `\`${TFLITE_FILE}\` was run through the TensorFlow Lite interpreter on ${source} and compared with TensorFlow.js (wasm backend) on the same pixels: ` +
        `top-1 agreement ${percent(p.top1Agreement)}, largest probability difference ${p.maxAbsDiff.toExponential(2)} (limit ${PARITY_TOLERANCE.toExponential(0)}).`
      : p.against === 'onnxruntime'
      ? `\`${ONNX_FILE}\` was run through onnxruntime-node ${c.ortVersion} on ${source} and compared with ${c.run.backend === 'pytorch' ? "the probabilities PyTorch gave them when it trained (the training bundle's predictions.json)" : 'TensorFlow.js (wasm backend)'} on the same pixels: ` +
        `top-1 agreement ${percent(p.top1Agreement)}, largest probability difference ${p.maxAbsDiff.toExponential(2)} (limit ${PARITY_TOLERANCE.toExponential(0)}).`
      : `The TF.js files were loaded with \`tf.loadLayersModel\` and predicted ${source} exactly as the run's model: top-1 agreement ${percent(p.top1Agreement)}, ` +
        `largest probability difference ${p.maxAbsDiff.toExponential(2)}.`,
    ...(c.tfjsParity
      ? [
          '',
          `The TF.js files were loaded with \`tf.loadLayersModel\` and checked on the same images: top-1 agreement ${percent(c.tfjsParity.top1Agreement)}, ` +
            `largest probability difference ${c.tfjsParity.maxAbsDiff.toExponential(2)}.`,
        ]
      : []),
    ...(c.int8 ? int8Section(c.int8) : []),
    ...(c.tflite ? tfliteSection(c.tflite, c.parity.against !== 'tflite') : []),
    '',
    '## Files',
    '',
    ...c.files.map((f) => `- \`${f}\``),
    '',
    'The sample programs in `samples/` load the model, preprocess one image as above and print the top classes.',
    '',
  );
  return lines.join('\n');
}

/** How much of the backbone a run trained, for the model card. */
function fineTunedText(ft: FineTuneConfig | undefined): string {
  if (!ft || ft.mode === 'head') return 'frozen';
  return ft.mode === 'all' ? 'fine-tuned whole' : `fine-tuned (its last ${ft.blocks === 1 ? 'block' : `${ft.blocks} blocks`}, after ${ft.cutLayer})`;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;

const METHOD_TEXT: Record<CalibrationMethod, string> = { minmax: 'min/max', percentile: 'a 99.99th-percentile clip', mse: 'the clip of least squared error' };

/** Which files hold the scaling, for the card's normalization line. */
function inGraph(format: ExportFormat): string {
  const files = [
    ...(format === 'onnx' || format === 'onnx-int8' || format === 'all' ? [ONNX_FILE] : []),
    ...(format === 'onnx-int8' ? [INT8_FILE] : []),
    ...(format === 'tflite' || format === 'tflite-int8' || format === 'all' ? [TFLITE_FILE] : []),
    ...(format === 'tflite-int8' ? [TFLITE_INT8_FILE] : []),
  ];
  return files.map((f) => `\`${f}\``).join(', ');
}

/** The TFLite part of the card: the float file's check (when the ONNX one is the parity of record), the int8 file's check and figures, speed in the interpreter. */
function tfliteSection(t: TfliteCheck, withParity: boolean): string[] {
  const lines = [''];
  if (withParity) {
    lines.push(
      `\`${TFLITE_FILE}\` was run through the TensorFlow Lite interpreter on the same images and compared with TensorFlow.js: top-1 agreement ${percent(t.parity.top1Agreement)}, ` +
        `largest probability difference ${t.parity.maxAbsDiff.toExponential(2)} (limit ${PARITY_TOLERANCE.toExponential(0)}).`,
      '',
    );
  }
  const q = t.int8;
  if (!q) {
    lines.push(`TFLite: ${mb(t.bytes)}; one image takes ${t.latencyMs.toFixed(2)} ms (median) in the interpreter here (${t.runtime}, one thread).`);
    return lines;
  }
  const method = METHOD_TEXT[q.calibration.method];
  lines.push(
    `### int8 TFLite model (\`${TFLITE_INT8_FILE}\`)`,
    '',
    `Full-integer quantization: int8 weights (convolutions one scale per output channel, dense layers one per tensor), int32 biases, int8 activations with one scale and zero point per tensor, ` +
      `set by ${method} of the activations on ${q.calibration.images} ${q.calibration.split} images. The input and output are int8 too, so a microcontroller runtime (TFLite Micro) can use the file as it is: ` +
      `input q = pixel / ${q.input.scale} + (${q.input.zeroPoint}) (that is, pixel - 128), output probability = ${q.output.scale.toPrecision(4)} x (q - (${q.output.zeroPoint})).`,
    '',
    `Checked against \`${TFLITE_FILE}\` on ${q.images} ${q.split ?? 'generated'} images, both in the TensorFlow Lite interpreter:`,
    '',
    `| | float (\`${TFLITE_FILE}\`) | int8 (\`${TFLITE_INT8_FILE}\`) |`,
    '|---|---:|---:|',
    `| file size | ${mb(t.bytes)} | ${mb(q.bytes)} |`,
    `| top-1 agreement with the float model | – | ${percent(q.top1Agreement)} |`,
    ...(q.accuracy ? [`| accuracy on these ${q.images} images | ${percent(q.accuracy.float)} | ${percent(q.accuracy.int8)} |`] : []),
    `| one image in the interpreter (median, one thread) | ${t.latencyMs.toFixed(2)} ms | ${q.latencyMs.toFixed(2)} ms |`,
    '',
    `Interpreter: ${t.runtime}. Required before the export was written: top-1 agreement of at least 99% and accuracy within 1 point of the float model.`,
  );
  return lines;
}

/** The int8 model's part of the card: how it was made, how it compares, how fast it runs here. */
function int8Section(q: Int8Check): string[] {
  const { float, int8 } = q.speed;
  return [
    '',
    `### int8 model (\`${INT8_FILE}\`)`,
    '',
    `Static quantization in QDQ form: int8 weights (symmetric, one scale per output channel), uint8 activations (one scale and zero point per tensor) ` +
      `set from the value ranges (${METHOD_TEXT[q.calibration.method]}) on ${q.calibration.images} ${q.calibration.split === 'train' ? 'training' : q.calibration.split} images. ` +
      `It was run through onnxruntime-node on the same ${q.images} ${q.split ?? 'generated'} images and compared with \`${ONNX_FILE}\`:`,
    '',
    '| | float (`model.onnx`) | int8 (`model-int8.onnx`) |',
    '|---|---:|---:|',
    `| file size | ${mb(q.bytes.float)} | ${mb(q.bytes.int8)} |`,
    `| top-1 agreement with float | – | ${percent(q.top1Agreement)} |`,
    ...(q.accuracy ? [`| accuracy on these ${q.images} images | ${percent(q.accuracy.float)} | ${percent(q.accuracy.int8)} |`] : []),
    `| images/s (batch ${float.batch}, median) | ${float.imagesPerSecond.toFixed(0)} | ${int8.imagesPerSecond.toFixed(0)} |`,
    `| batch-1 latency (median) | ${float.latencyMs.toFixed(2)} ms | ${int8.latencyMs.toFixed(2)} ms |`,
    '',
    `Speed measured on the exporting machine (onnxruntime CPU provider, ${q.speed.threads} threads): int8 is ${(int8.imagesPerSecond / float.imagesPerSecond).toFixed(1)}x the float model's images/s ` +
      `and ${(float.latencyMs / int8.latencyMs).toFixed(1)}x faster at batch 1. Required before the export was written: top-1 agreement of at least 99% and accuracy within 1 point of the float model.`,
  ];
}
