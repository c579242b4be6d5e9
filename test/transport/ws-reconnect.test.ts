// Browser mode's dropped connection, through the renderer's own transport and a real server:
// the transport says it is reconnecting, comes back by itself, lets the page reopen its project
// before any call queued meanwhile goes out, and the client catches up with the project's jobs
// (still running, or ended while the connection was down). The job never notices.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FeatureExtraction, JobInfo, JobProgress } from '../../src/shared/types';
import type { Studio } from '../../src/main/api/studio';
import { makeStudio, tempDir } from '../helpers';
import { gatedJob, pageClient as serverPage } from './page-client';

/** A page's client on a real server, with what its job listeners heard. */
async function pageClient(studio: Studio) {
  const page = await serverPage(studio);
  const progress: JobProgress[] = [];
  const finished: JobInfo[] = [];
  page.client.on('onJobProgress', (p) => progress.push(p));
  page.client.on('onJobFinished', (j) => finished.push(j));
  return { ...page, progress, finished };
}

const extracted: FeatureExtraction = { images: 2, failed: 0, seconds: 1 };

async function pageWithJob() {
  const studio = makeStudio();
  const page = await pageClient(studio);
  const dir = path.join(tempDir(), 'reconnect.loupe');
  const summary = await page.client.createProject({ path: dir });
  // What studio.svelte.ts does when the connection comes back: reopen first, at once.
  const rejoined: Promise<unknown>[] = [];
  page.client.onReconnect(() => void rejoined.push(page.client.openProject({ path: dir }).then(() => page.client.resyncJobs())));
  const job = gatedJob(extracted, (r) => r.progress(1, 2, 'Half way'));
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
