// Starts a worker thread from src/main/workers/<name>.worker.ts. The build emits each worker
// as out/main/workers/<name>.worker.js; when the code runs from source (tests), the TypeScript
// file is run through tsx.

import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { packageRoot } from '../version';

const fromSource = fileURLToPath(import.meta.url).endsWith('.ts');

export function spawnWorker(name: string, options: WorkerOptions = {}): Worker {
  const root = packageRoot();
  if (!fromSource) return new Worker(path.join(root, 'out', 'main', 'workers', `${name}.worker.js`), options);
  const entry = pathToFileURL(path.join(root, 'src', 'main', 'workers', `${name}.worker.ts`)).href;
  const workerData = { ...(options.workerData ?? {}), __loupeEntry: entry };
  return new Worker(path.join(root, 'src', 'main', 'workers', 'tsx-bootstrap.mjs'), { ...options, workerData });
}

/**
 * Watches one worker of a group that each post a last message and then end by themselves:
 * `report` is called when the worker stops before `done()` was called (a crash, or an exit with
 * its work unfinished), never when it stops after, however long the rest of its group still
 * takes. Node delivers a worker's messages before its 'exit' event; after a normal exit the
 * verdict still waits `graceMs`, for a message that comes late.
 */
export function watchExit(worker: { once(event: 'exit', listener: (code: number) => void): unknown }, report: (code: number) => void, graceMs = 0): { done: () => void; dispose: () => void } {
  let done = false;
  let timer: NodeJS.Timeout | null = null;
  worker.once('exit', (code: number) => {
    if (done) return;
    timer = setTimeout(() => {
      if (!done) report(code);
    }, code === 0 ? graceMs : 0);
  });
  return {
    done: () => void (done = true),
    dispose: () => {
      if (timer) clearTimeout(timer);
    },
  };
}
