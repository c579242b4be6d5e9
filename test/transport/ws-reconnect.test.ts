// Browser mode's dropped connection, through the renderer's own transport and a real server:
// the transport says it is reconnecting, comes back by itself, lets the page reopen its project
// before any call queued meanwhile goes out, and the client catches up with the project's jobs
// (still running, or ended while the connection was down). The job never notices.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { FeatureExtraction, JobInfo, JobProgress } from '../../src/shared/types';
import { cancelledError, type JobReporter } from '../../src/main/jobs/jobs';
import type { Studio } from '../../src/main/api/studio';
import { startServer } from '../../src/main/transport/server';
import { createClient, webSocketTransport, type ConnectionState } from '../../src/renderer/src/lib/transport';
import { makeStudio, onCleanup, tempDir } from '../helpers';

/** A page's client on a real server; `drop()` cuts its current connection as a network would. */
async function pageClient(studio: Studio) {
  const rendererDir = tempDir();
  fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>t</title>');
  const server = await startServer({ studio, rendererDir, token: 'secret-token' });
  onCleanup(() => server.close());
  const origin = `http://127.0.0.1:${server.port}`;
  const url = `ws://127.0.0.1:${server.port}/api`;
  const sockets: WebSocket[] = [];
  // The renderer's transport uses the browser WebSocket API; `ws` speaks it too. (An earlier
  // test's client may still be retrying its closed server through this class: not counted.)
  (globalThis as { WebSocket?: unknown }).WebSocket = class extends WebSocket {
    constructor(to: string) {
      super(to, { origin, headers: { Authorization: 'Bearer secret-token' } });
      if (to === url) sockets.push(this);
    }
  };
  onCleanup(() => void delete (globalThis as { WebSocket?: unknown }).WebSocket);
  const client = createClient(webSocketTransport(url));
  const states: ConnectionState[] = [];
  client.onConnectionChange((s) => states.push(s));
  const progress: JobProgress[] = [];
  const finished: JobInfo[] = [];
  client.on('onJobProgress', (p) => progress.push(p));
  client.on('onJobFinished', (j) => finished.push(j));
  return { client, states, progress, finished, drop: () => sockets.at(-1)!.terminate(), connections: () => sockets.length };
}

const extracted: FeatureExtraction = { images: 2, failed: 0, seconds: 1 };

/** A job that runs until `finish()`. */
function gated() {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  let reporter!: JobReporter;
  const work = (r: JobReporter) => {
    reporter = r;
    r.progress(1, 2, 'Half way');
    return new Promise<FeatureExtraction>((resolve, reject) => {
      void done.then(() => resolve(extracted));
      r.signal.addEventListener('abort', () => reject(cancelledError()));
    });
  };
  return { work, finish, reporter: () => reporter };
}

async function pageWithJob() {
  const studio = makeStudio();
  const page = await pageClient(studio);
  const dir = path.join(tempDir(), 'reconnect.loupe');
  const summary = await page.client.createProject({ path: dir });
  // What studio.svelte.ts does when the connection comes back: reopen first, at once.
  const rejoined: Promise<unknown>[] = [];
  page.client.onReconnect(() => void rejoined.push(page.client.openProject({ path: dir }).then(() => page.client.resyncJobs())));
  const job = gated();
  const { jobId } = studio.startJob(studio.projectByKey(summary.key)!, 'features', job.work);
  await expect.poll(() => page.progress.some((p) => p.jobId === jobId)).toBe(true);
  return { studio, page, job, jobId, rejoined };
}

describe('browser mode: a dropped connection', () => {
  it('reconnects, reopens the project before queued calls, and finds the running job again', async () => {
    const { studio, page, jobId, rejoined } = await pageWithJob();
    page.drop();
    // Made while the connection is down: sent once it is back, after the project is open again.
    const jobsWhileDown = page.client.listJobs();
    await expect.poll(() => page.states).toEqual(['reconnecting', 'open']);
    expect(page.connections()).toBe(2);
    expect((await jobsWhileDown).map((j) => [j.jobId, j.status])).toEqual([[jobId, 'running']]);
    await Promise.all(rejoined);
    expect(studio.runningJobs().map((j) => j.jobId)).toEqual([jobId]);
    // The running job was reported to the page's listeners again, as progress.
    expect(page.progress.filter((p) => p.jobId === jobId).length).toBeGreaterThanOrEqual(2);
    expect(page.finished).toEqual([]);
  });

  it('tells the page about a job that ended while the connection was down', async () => {
    const { page, job, jobId, rejoined } = await pageWithJob();
    page.drop();
    job.finish();
    await expect.poll(() => page.states).toEqual(['reconnecting', 'open']);
    await expect.poll(() => rejoined.length).toBe(1);
    await Promise.all(rejoined);
    await expect.poll(() => page.finished.map((j) => [j.jobId, j.status, j.result])).toEqual([[jobId, 'completed', extracted]]);
  });

  it('fails a call cut off mid-flight, saying the connection was lost', async () => {
    const { page } = await pageWithJob();
    // Sent, and cut off before its answer can arrive (the drop comes in the same tick).
    const inFlight = page.client.runningJobs();
    page.drop();
    await expect(inFlight).rejects.toMatchObject({ code: 'DISCONNECTED', message: 'The connection to Loupe was lost. Retrying…' });
  });
});
