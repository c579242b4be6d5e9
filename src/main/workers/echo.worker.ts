// A trivial worker that proves the worker plumbing (source via tsx, build output) works.
import { parentPort } from 'node:worker_threads';

parentPort?.on('message', (msg: unknown) => parentPort?.postMessage({ echo: msg }));
