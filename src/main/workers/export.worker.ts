// TF.js predictions for export checks: loads a layers model (tf.loadLayersModel) on the wasm
// backend and predicts batches of raw pixels. See services/export/tfjs-predictor.ts.
import '../services/tfjs/quiet-tf';
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { TfjsPredictReply, TfjsPredictRequest } from '../services/export/tfjs-predictor';
import { activateBackend } from '../services/tfjs/backends';
import { loadModel } from '../services/tfjs/checkpoint';

const port = parentPort!;
const BATCH = 32;
let ready: Promise<void> | null = null;
const models = new Map<string, Promise<tf.LayersModel>>();

async function predict(req: TfjsPredictRequest): Promise<Float32Array> {
  ready ??= activateBackend('wasm');
  await ready;
  if (!models.has(req.modelDir)) models.set(req.modelDir, loadModel(req.modelDir));
  const model = await models.get(req.modelDir)!;
  const size = req.shape.reduce((a, b) => a * b, 1);
  let out: Float32Array | null = null;
  for (let start = 0; start < req.count; start += BATCH) {
    const n = Math.min(BATCH, req.count - start);
    let input: Float32Array;
    if (req.values) input = req.values.slice(start * size, (start + n) * size);
    else {
      input = new Float32Array(n * size);
      for (let i = 0; i < input.length; i++) input[i] = req.pixels[start * size + i] * req.scale + req.offset;
    }
    const probs = tf.tidy(() => (model.predict(tf.tensor(input, [n, ...req.shape])) as tf.Tensor).dataSync() as Float32Array);
    const classes = probs.length / n;
    out ??= new Float32Array(req.count * classes);
    out.set(probs, start * classes);
  }
  return out ?? new Float32Array(0);
}

port.on('message', (req: TfjsPredictRequest) => {
  predict(req).then(
    (probs) => port.postMessage({ id: req.id, type: 'probs', probs, backend: tf.getBackend() } satisfies TfjsPredictReply, [probs.buffer as ArrayBuffer]),
    (err: unknown) => port.postMessage({ id: req.id, type: 'error', message: err instanceof Error ? err.message : String(err) } satisfies TfjsPredictReply),
  );
});
