// `npm run bench:finetune`: training-step throughput of fine-tuning MobileNet v1 through the
// onnxruntime trainer (onnx/training-graph.ts), all cores, Adam, frozen batch-norm statistics,
// the backbone at a tenth of the head's learning rate:
//   - blocks: its last two blocks (conv_dw_11 .. conv_pw_12_relu) + a softmax head, on the cached
//     input of conv_dw_11 (8x8x512 at 128 px)
//   - all: the whole backbone (pixels 128x128x3 in, Rescaling as in a Loupe features model) + head
// Also the forward-only (inference graph) rate of each, for comparison with extraction.
//
//   npm run bench:finetune -- --batches 32,64 --resolution 128 --seconds 10 --parts blocks,all
// Needs ../shared/models/mobilenet_v1_1.0_224_pw12 (or LOUPE_BACKBONE_DIR/mobilenet_v1_1.0_224_pw12).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { OrtTrainer } from '../src/main/services/training/ort-trainer';
import { seededRandom } from '../src/main/services/rng';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    batches: { type: 'string' },
    resolution: { type: 'string' },
    seconds: { type: 'string' },
    parts: { type: 'string' },
  },
});
const batches = (values.batches ?? '32,64').split(',').map(Number);
const resolution = Number(values.resolution ?? 128);
const seconds = Number(values.seconds ?? 10);
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

async function measure(name: string, model: tf.LayersModel): Promise<void> {
  const lrScale = Object.fromEntries(model.layers.filter((l) => l.name !== 'head').map((l) => [l.name, 0.1]));
  const trainer = await OrtTrainer.create(model, { kind: 'adam', weightDecay: 0 }, os.availableParallelism(), { frozenBatchNorm: true, lrScale });
  const size = (model.inputs[0].shape as number[]).slice(1).reduce((a, b) => a * b, 1);
  const random = seededRandom(1);
  for (const batch of batches) {
    const x = Float32Array.from({ length: batch * size }, () => random());
    const labels = Int32Array.from({ length: batch }, (_, i) => i % CLASSES);
    await trainer.step(x, labels, batch, 1e-4, random); // warm-up
    let steps = 0;
    const start = performance.now();
    while (performance.now() - start < seconds * 1000 || steps < 3) {
      await trainer.step(x, labels, batch, 1e-4, random);
      steps++;
    }
    const train = (steps * batch) / ((performance.now() - start) / 1000);
    await trainer.predict(x, batch);
    let predicted = 0;
    const start2 = performance.now();
    while (performance.now() - start2 < (seconds * 1000) / 2 || predicted < 3 * batch) {
      await trainer.predict(x, batch);
      predicted += batch;
    }
    const infer = predicted / ((performance.now() - start2) / 1000);
    console.log(`${name.padEnd(34)} batch ${String(batch).padStart(3)}: train ${train.toFixed(1).padStart(7)} images/s   forward ${infer.toFixed(1).padStart(7)} images/s`);
  }
  await trainer.release();
}

await tf.setBackend('cpu');
const full = await backbone();
console.log(`MobileNet v1 at ${resolution} px, ${os.availableParallelism()} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
if (parts.includes('blocks')) await measure(`last 2 blocks + head (${resolution / 16}x${resolution / 16}x512 in)`, trainable(full, 'conv_dw_11'));
if (parts.includes('all')) await measure(`whole backbone + head (${resolution}x${resolution}x3 in)`, trainable(full, null));
console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
