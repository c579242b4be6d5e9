// A browser page's client on a real `loupe serve` server, for tests of what the page does when
// its connection drops: the renderer's own transport (src/renderer/src/lib/transport.ts) over
// `ws`, which speaks the browser WebSocket API; and a job that runs until the test ends it.

import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import type { FeatureExtraction } from '../../src/shared/types';
import type { Studio } from '../../src/main/api/studio';
import { cancelledError, type JobReporter } from '../../src/main/jobs/jobs';
import { startServer } from '../../src/main/transport/server';
import { createClient, webSocketTransport, type ConnectionState } from '../../src/renderer/src/lib/transport';
import { onCleanup, tempDir } from '../helpers';

const TOKEN = 'secret-token';

/** The sockets opened to each page's server URL. */
const pages = new Map<string, { origin: string; sockets: WebSocket[] }>();

// The renderer's transport opens `new WebSocket(url)`. Installed once for the whole test file: a
// page whose server closed keeps retrying (and is refused) after its test, through this class.
(globalThis as { WebSocket?: unknown }).WebSocket = class extends WebSocket {
  constructor(to: string) {
    const known = pages.get(to);
    super(to, { origin: known?.origin, headers: { Authorization: `Bearer ${TOKEN}` } });
    known?.sockets.push(this);
  }
};

/** A page's client on a real server; `drop()` cuts its current connection as a network would. */
export async function pageClient(studio: Studio) {
  const rendererDir = tempDir();
  fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>t</title>');
  const server = await startServer({ studio, rendererDir, token: TOKEN });
  onCleanup(() => server.close());
  const origin = `http://127.0.0.1:${server.port}`;
  const url = `ws://127.0.0.1:${server.port}/api`;
  const sockets: WebSocket[] = [];
  pages.set(url, { origin, sockets });
  const client = createClient(webSocketTransport(url));
  const states: ConnectionState[] = [];
  client.onConnectionChange((s) => states.push(s));
  return { client, states, drop: () => sockets.at(-1)!.terminate(), connections: () => sockets.length };
}

/** A `features` job that runs until `finish()` (or its cancellation), ending with `result`; `onStart` may report progress. */
export function gatedJob(result: FeatureExtraction, onStart?: (reporter: JobReporter<'features'>) => void) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  let reporter: JobReporter<'features'> | undefined;
  const work = (r: JobReporter<'features'>) => {
    reporter = r;
    onStart?.(r);
    return new Promise<FeatureExtraction>((resolve, reject) => {
      void done.then(() => resolve(result));
      r.signal.addEventListener('abort', () => reject(cancelledError()));
    });
  };
  return {
    work,
    finish,
    /** The running job's reporter (the job must have started). */
    reporter: () => reporter!,
  };
}
