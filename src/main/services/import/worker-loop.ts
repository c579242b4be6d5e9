// The import worker's loop: takes tasks, works on `depth` files at once, and sends results back
// in small groups.

import { threadId, type MessagePort } from 'node:worker_threads';
import { KnownHashes } from './known-hashes';
import { MediaWriter } from './media-writer';
import { processFile, type FileContext } from './process-file';
import type { FileResult, FileTask, FromWorker, ToWorker, WorkerConfig } from './protocol';

const FLUSH_EVERY = 16;

export function serveImports(port: MessagePort, config: WorkerConfig): void {
  const ctx: FileContext = {
    limits: config.limits,
    known: new KnownHashes(config.known),
    writer: new MediaWriter(config.root, config.syncEachFile, `${process.pid}-${threadId}`),
  };
  const queue: FileTask[] = [];
  let head = 0;
  let active = 0;
  let out: FileResult[] = [];
  let failed = false;
  const send = (msg: FromWorker) => port.postMessage(msg);

  const flush = () => {
    if (out.length === 0) return;
    send({ type: 'results', results: out });
    out = [];
  };

  const pump = () => {
    while (!failed && active < config.depth && head < queue.length) {
      const task = queue[head++];
      active++;
      processFile(task.file, ctx, task.bytes).then(
        (outcome) => {
          active--;
          out.push({ ...outcome, i: task.i });
          if (out.length >= FLUSH_EVERY || (active === 0 && head === queue.length)) flush();
          pump();
        },
        (err: unknown) => {
          active--;
          failed = true;
          const code = (err as NodeJS.ErrnoException)?.code;
          send({ type: 'fatal', error: { code: typeof code === 'string' ? code : null, message: err instanceof Error ? err.message : String(err) } });
        },
      );
    }
    if (head === queue.length && head > 4096) {
      queue.length = 0;
      head = 0;
    }
  };

  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'tasks') {
      queue.push(...msg.tasks);
      pump();
    }
  });
}
