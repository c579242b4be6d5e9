// Training worker: one replica of a run (services/training/replica.ts), or a probe of which
// backends can run here. TensorFlow.js state is per thread, so both happen here, never on the
// main thread.
import '../services/tfjs/quiet-tf';
import { parentPort, workerData } from 'node:worker_threads';
import { probeBackends } from '../services/tfjs/backends';
import type { FromReplica, ReplicaInit } from '../services/training/protocol';
import { ReplicaAborted, runReplica } from '../services/training/replica';
import { measurePartThroughput, measureThroughput } from '../services/training/throughput';
import type { BackendName, TrainConfig } from '../../shared/types';

type Data =
  | { mode: 'probe' }
  | { mode: 'calibrate' | 'calibrate-part'; backend: BackendName; config: TrainConfig; classes: number }
  | ({ mode: 'replica' } & ReplicaInit);

const data = workerData as Data;
const port = parentPort!;

if (data.mode === 'probe') {
  void probeBackends().then((backends) => port.postMessage({ type: 'backends', backends }));
} else if (data.mode === 'calibrate' || data.mode === 'calibrate-part') {
  (data.mode === 'calibrate' ? measureThroughput : measurePartThroughput)(data.backend, data.config, data.classes).then(
    (imagesPerSecond) => port.postMessage({ type: 'rate', imagesPerSecond }),
    () => port.postMessage({ type: 'error' }),
  );
} else if (data.mode === 'replica') {
  const post = (msg: FromReplica, transfer?: ArrayBuffer[]) => port.postMessage(msg, transfer ?? []);
  runReplica(data, post).catch((err: unknown) => {
    if (err instanceof ReplicaAborted) return;
    const e = err as Error & { code?: string };
    post({ type: 'error', rank: data.rank, code: typeof e.code === 'string' ? e.code : null, message: e.message ?? String(err) });
  });
}
