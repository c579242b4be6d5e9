// Map worker: lays out the map (services/map/layout.ts) off the main thread. The features come
// in one message (transferred, not copied); the thread ends with the job.
import { parentPort } from 'node:worker_threads';
import type { FromMapWorker, ToMapWorker } from '../services/map/protocol';
import { runMapWork } from '../services/map/worker-entry';

const port = parentPort!;
const post = (msg: FromMapWorker, transfer?: ArrayBuffer[]) => port.postMessage(msg, transfer ?? []);
port.once('message', (msg: ToMapWorker) => {
  runMapWork(msg, post).catch((err: unknown) => post({ type: 'error', message: (err as Error)?.message ?? String(err) }));
});
