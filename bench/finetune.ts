// `npm run bench:finetune`: training-step throughput of fine-tuning MobileNet v1 through the
// onnxruntime trainer (onnx/training-graph.ts), all cores, Adam, frozen batch-norm statistics,
// the backbone at a tenth of the head's learning rate:
//   - blocks: its last two blocks (conv_dw_11 .. conv_pw_12_relu) + a softmax head, on the cached
//     input of conv_dw_11 (8x8x512 at 128 px)
//   - all: the whole backbone (pixels 128x128x3 in, Rescaling as in a Loupe features model) + head
// Also the forward-only (inference graph) rate of each, for comparison with extraction.
//
//   npm run bench:finetune -- --batches 32,64 --resolution 128 --seconds 10 --rounds 3 --parts blocks,all
// Each figure is measured in `rounds` rounds of `seconds`: the best and the median are printed
// (on a shared machine the best is what the code can do, the median what it did). --profile adds,
// for each part at the first batch size, where a training step spends its time per onnxruntime
// operator (as bench:profile does for the architectures), --top N lines of it.
// Needs ../shared/models/mobilenet_v1_1.0_224_pw12 (or LOUPE_BACKBONE_DIR/mobilenet_v1_1.0_224_pw12).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { OrtTrainer } from '../src/main/services/training/ort-trainer';
import { seededRandom } from '../src/main/services/rng';
import { printProfile } from './ort-profile';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    batches: { type: 'string' },
    resolution: { type: 'string' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    parts: { type: 'string' },
    profile: { type: 'boolean' },
    top: { type: 'string' },
  },
});
const batches = (values.batches ?? '32,64').split(',').map(Number);
const resolution = Number(values.resolution ?? 128);
const seconds = Number(values.seconds ?? 10);
const rounds = Number(values.rounds ?? 3);
const parts = (values.parts ?? 'blocks,all').split(',');
const CLASSES = 10;
const dir = path.join(process.env.LOUPE_BACKBONE_DIR ?? path.join(repo, '..', 'shared', 'models'), 'mobilenet_v1_1.0_224_pw12');

interface ModelJson {
  modelTopology: { model_config: { config: { layers: { class_name: string; name: string; config: Record<string, unknown>; inbound_nodes: unknown[] }[] } } };
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/** The backbone with its input at `resolution`, weights loaded. */
async function backbone(): Promise<tf.LayersModel> {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as ModelJson;
  const input = json.modelTopology.model_config.config.layers[0];
  input.config.batch_input_shape = [null, resolution, resolution, 3];
  const bytes = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    }),
  );
}

/** Fresh copies of the backbone's layers from `from` to the last conv block, on a new input, + GAP and a softmax head. */
function trainable(full: tf.LayersModel, from: string | null): tf.LayersModel {
  const start = from === null ? 1 : full.layers.findIndex((l) => l.name === from);
  const end = full.layers.findIndex((l) => l.name === 'conv_pw_12_relu');
  const shape = (full.layers[start].inboundNodes[0].inputTensors[0].shape as number[]).slice(1);
  const input = tf.input({ shape });
  let t: tf.SymbolicTensor = input;
  if (from === null) t = tf.layers.rescaling({ scale: 1 / 127.5, offset: -1, name: 'loupe_preprocess' }).apply(t) as tf.SymbolicTensor;
  const copies: [tf.layers.Layer, tf.layers.Layer][] = [];
  for (const layer of full.layers.slice(start, end + 1)) {
    const Cls = layer.constructor as new (config: object) => tf.layers.Layer;
    const copy = new Cls(layer.getConfig());
    t = copy.apply(t) as tf.SymbolicTensor;
    copies.push([layer, copy]);
  }
  t = tf.layers.globalAveragePooling2d({ name: 'loupe_features' }).apply(t) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: CLASSES, activation: 'softmax', name: 'head' }).apply(t) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  for (const [layer, copy] of copies) copy.setWeights(layer.getWeights());
  return model;
}

/** Images/s of `run` (one batch) over `seconds` (at least 3 runs). */
async function rate(batch: number, run: () => Promise<unknown>): Promise<number> {
  let steps = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000 || steps < 3) {
    await run();
    steps++;
  }
  return (steps * batch) / ((performance.now() - start) / 1000);
}

/** The trainer as one click's fine-tuning makes it: Adam, frozen batch-norm statistics, the backbone at 0.1x the head's rate. */
function trainerFor(model: tf.LayersModel, extra?: Parameters<typeof OrtTrainer.create>[4]): Promise<OrtTrainer> {
  const lrScale = Object.fromEntries(model.layers.filter((l) => l.name !== 'head').map((l) => [l.name, 0.1]));
  return OrtTrainer.create(model, { kind: 'adam', weightDecay: 0 }, os.availableParallelism(), { frozenBatchNorm: true, lrScale }, extra);
}

/** A batch of random inputs for `model` and labels cycling through the classes. */
function batchFor(model: tf.LayersModel, batch: number, random: () => number): { x: Float32Array; labels: Int32Array } {
  const size = (model.inputs[0].shape as number[]).slice(1).reduce((a, b) => a * b, 1);
  return { x: Float32Array.from({ length: batch * size }, () => random()), labels: Int32Array.from({ length: batch }, (_, i) => i % CLASSES) };
}

/** Per-operator profile of 5 training steps at `batch` (after 2 warm-up steps). */
async function profile(name: string, model: tf.LayersModel, batch: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-profile-'));
  const trainer = await trainerFor(model, { enableProfiling: true, profileFilePrefix: path.join(dir, 'finetune') });
  const random = seededRandom(1);
  const { x, labels } = batchFor(model, batch, random);
  const profiled = 5;
  for (let i = 0; i < 2 + profiled; i++) await trainer.step(x, labels, batch, 1e-4, random);
  trainer.endProfiling();
  await trainer.release();
  printProfile(dir, profiled, Number(values.top ?? 14), `${name}, batch ${batch}`);
}

async function measure(name: string, model: tf.LayersModel): Promise<void> {
  const trainer = await trainerFor(model);
  const random = seededRandom(1);
  for (const batch of batches) {
    const { x, labels } = batchFor(model, batch, random);
    await trainer.step(x, labels, batch, 1e-4, random); // warm-up
    await trainer.predict(x, batch);
    const train: number[] = [];
    const infer: number[] = [];
    for (let r = 0; r < rounds; r++) {
      train.push(await rate(batch, () => trainer.step(x, labels, batch, 1e-4, random)));
      infer.push(await rate(batch, () => trainer.predict(x, batch)));
    }
    const figure = (rates: number[]) => {
      const sorted = [...rates].sort((a, b) => a - b);
      return `${sorted[sorted.length - 1].toFixed(1).padStart(7)} best, ${sorted[Math.floor(sorted.length / 2)].toFixed(1).padStart(7)} median`;
    };
    console.log(`${name.padEnd(38)} batch ${String(batch).padStart(3)}: train ${figure(train)}   forward ${figure(infer)} (images/s)`);
  }
  await trainer.release();
  if (values.profile) await profile(name, model, batches[0]);
}

await tf.setBackend('cpu');
const full = await backbone();
console.log(`MobileNet v1 at ${resolution} px, ${os.availableParallelism()} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
if (parts.includes('blocks')) await measure(`last 2 blocks + head (${resolution / 16}x${resolution / 16}x512 in)`, trainable(full, 'conv_dw_11'));
if (parts.includes('all')) await measure(`whole backbone + head (${resolution}x${resolution}x3 in)`, trainable(full, null));
console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
