// Inference worker: a saved model predicts class probabilities for pixel-pack rows
// (services/evaluation/infer.ts). TensorFlow.js never runs on the main thread.
import '../services/tfjs/quiet-tf';
import { parentPort, workerData } from 'node:worker_threads';
import { runInference, type FromInfer, type InferInit } from '../services/evaluation/infer';

const port = parentPort!;
const post = (msg: FromInfer, transfer?: ArrayBuffer[]) => port.postMessage(msg, transfer ?? []);
runInference(workerData as InferInit, post).catch((err: unknown) => post({ type: 'error', message: (err as Error)?.message ?? String(err) }));
