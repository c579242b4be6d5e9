// Test-time only: runs a TypeScript worker entry from source through tsx.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.__loupeEntry);
