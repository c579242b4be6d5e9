// Import worker: reads, hashes, decodes, thumbnails and writes source files (see
// services/import/process-file.ts). The main thread owns the database and commits the rows.
import { parentPort, workerData } from 'node:worker_threads';
import { serveImports } from '../services/import/worker-loop';
import type { WorkerConfig } from '../services/import/protocol';

if (parentPort) serveImports(parentPort, workerData as WorkerConfig);
