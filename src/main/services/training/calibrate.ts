// The plan's throughput figure, measured once per process and configuration in a short-lived
// training worker (TF.js never loads on the main thread). Plain JS is too slow to measure
// quickly: its estimate stays the FLOP-based one.

import type { BackendInfo, TrainConfig } from '../../../shared/types';
import { spawnWorker } from '../../workers/spawn';

const TIMEOUT_MS = 30_000;
/** Two wasm replicas reached 1.46x one replica's throughput here (gradient exchange, barriers). */
const REPLICA_EFFICIENCY = 0.73;

const measured = new Map<string, Promise<number | null>>();

export function measuredImagesPerSecond(backend: BackendInfo, config: TrainConfig, classes: number, cores: number): Promise<number | null> {
  if (backend.name === 'cpu' || !backend.available) return Promise.resolve(null);
  const key = [backend.name, config.arch, config.width, config.height, config.channels, classes, config.batchSize].join(':');
  let rate = measured.get(key);
  if (!rate) {
    rate = new Promise<number | null>((resolve) => {
      const worker = spawnWorker('train', { workerData: { mode: 'calibrate', backend: backend.name, config, classes } });
      const timer = setTimeout(() => void worker.terminate(), TIMEOUT_MS);
      worker.once('message', (msg: { type: 'rate'; imagesPerSecond: number } | { type: 'error' }) => {
        resolve(msg.type === 'rate' ? msg.imagesPerSecond : null);
        clearTimeout(timer);
        void worker.terminate();
      });
      worker.once('error', () => resolve(null));
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve(null);
      });
    });
    measured.set(key, rate);
  }
  const replicas = backend.name === 'wasm' ? Math.min(config.workers, cores) : 1;
  return rate.then((r) => (r === null ? null : replicas > 1 ? r * replicas * REPLICA_EFFICIENCY : r));
}
