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
