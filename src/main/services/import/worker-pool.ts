// Runs file tasks on import workers (one per core): hands out small chunks in order, keeps each
// worker a few chunks ahead so none idles, and stops at once when cancelled.

import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { LoupeError } from '../../../shared/errors';
import { spawnWorker } from '../../workers/spawn';
import type { FileResult, FileTask, FromWorker, ToWorker, WorkerConfig } from './protocol';

const CHUNK = 32;
const AHEAD = 3 * CHUNK;

export function workerCount(tasks: number, requested?: number): number {
  const cores = Math.max(1, Math.min(os.availableParallelism(), 8));
  return Math.max(1, Math.min(requested ?? cores, Math.ceil(tasks / CHUNK)));
}

export class WorkerPoolError extends Error {
  constructor(
    readonly code: string | null,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Runs every task and calls `onResults` as results come in. Resolves when all are done, or as
 * soon as `signal` fires (the workers are then terminated mid-file: what they had not reported
 * is simply not done). Rejects if a worker fails.
 */
export async function runTasks(
  tasks: readonly FileTask[],
  config: WorkerConfig,
  count: number,
  onResults: (results: FileResult[]) => void,
  signal?: AbortSignal,
): Promise<void> {
  if (tasks.length === 0 || signal?.aborted) return;
  const workers: Worker[] = [];
  const outstanding: number[] = [];
  let next = 0;
  let received = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const feed = (w: number) => {
        while (outstanding[w] < AHEAD && next < tasks.length) {
          const chunk = tasks.slice(next, next + CHUNK);
          next += chunk.length;
          outstanding[w] += chunk.length;
          workers[w].postMessage({ type: 'tasks', tasks: chunk } satisfies ToWorker);
        }
      };
      const onAbort = () => resolve();
      signal?.addEventListener('abort', onAbort, { once: true });
      for (let w = 0; w < count; w++) {
        const worker = spawnWorker('import', { workerData: config });
        workers.push(worker);
        outstanding.push(0);
        worker.on('message', (msg: FromWorker) => {
          if (signal?.aborted) return;
          if (msg.type === 'fatal') {
            reject(new WorkerPoolError(msg.error.code, msg.error.message));
            return;
          }
          outstanding[w] -= msg.results.length;
          received += msg.results.length;
          try {
            onResults(msg.results);
          } catch (err) {
            reject(err);
            return;
          }
          if (received === tasks.length) {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          } else feed(w);
        });
        worker.on('error', (err) => reject(new LoupeError('INTERNAL', `An import worker failed: ${err.message}`)));
        worker.on('exit', (code) => {
          if (received < tasks.length && !signal?.aborted) {
            reject(new LoupeError('INTERNAL', `An import worker stopped unexpectedly (exit code ${code}).`));
          }
        });
        feed(w);
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
