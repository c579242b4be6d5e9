// The renderer's job tracker, on the page's own client and a real server: it follows the job of
// its kind (and no other), finds a running one again through listJobs after a reload or a
// dropped connection, hands over the kind's typed result at the end, and cancels.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FeatureExtraction, JobInfo, JobProgress } from '../../src/shared/types';
import { JobTracker } from '../../src/renderer/src/lib/job-tracker';
import type { LoupeClient } from '../../src/renderer/src/lib/transport';
import { makeStudio, onCleanup, tempDir } from '../helpers';
import { gatedJob, pageClient } from '../transport/page-client';

const extracted: FeatureExtraction = { images: 3, failed: 0, seconds: 1 };

/** A tracker that records what it hears, as a store's handlers would. */
function tracked(client: LoupeClient) {
  const progress: { progress: JobProgress<'features'>; fresh: boolean }[] = [];
  const finished: { job: JobInfo<'features'>; followed: boolean }[] = [];
  const tracker = new JobTracker(client, 'features', {
    onProgress: (p, fresh) => progress.push({ progress: p, fresh }),
    onFinished: (job, followed) => finished.push({ job, followed }),
  });
  onCleanup(() => tracker.dispose());
  return { tracker, progress, finished };
}

async function projectWithJob() {
  const studio = makeStudio();
  const tab = await pageClient(studio);
  const dir = path.join(tempDir(), 'tracker.loupe');
  const summary = await tab.client.createProject({ path: dir });
  const gated = gatedJob(extracted);
  const job = { ...gated, step: (done: number) => gated.reporter().progress(done, 3, 'Extracting features') };
  // Started before the page's tracker exists: as after a reload, or by another window.
  const project = studio.projectByKey(summary.key)!;
  const { jobId } = studio.startJob(project, 'features', job.work, { phase: 'Extracting features' });
  return { studio, project, tab, dir, job, jobId };
}

describe('job tracker', () => {
  it('attaches to a running job through listJobs, follows its progress, and ends with its typed result', async () => {
    const { tab, job, jobId } = await projectWithJob();
    const { tracker, progress, finished } = tracked(tab.client);
    const others = new JobTracker(tab.client, 'train');
    onCleanup(() => others.dispose());
    expect(tracker.job).toBeNull();

    expect(await tracker.attach()).toMatchObject({ jobId, kind: 'features', status: 'running', phase: 'Extracting features' });
    expect(tracker.job?.jobId).toBe(jobId);
    expect(await tracker.attach()).toBeNull(); // already following it
    expect(await others.attach()).toBeNull(); // no train job runs

    job.step(2);
    await expect.poll(() => tracker.job?.done).toBe(2);
    expect(progress.at(-1)).toMatchObject({ progress: { jobId, done: 2, total: 3 }, fresh: false });

    job.finish();
    await expect.poll(() => finished.length).toBe(1);
    const [{ job: ended, followed }] = finished;
    expect(followed).toBe(true);
    expect(ended.status).toBe('completed');
    // Typed by kind: a FeatureExtraction, read without a cast.
    expect(ended.result?.images).toBe(3);
    expect(ended.result).toEqual(extracted);
    expect(tracker.job).toBeNull();
    expect(others.job).toBeNull(); // another kind's tracker heard none of it
  });

  it('picks up a job it hears of first through progress, marking it fresh', async () => {
    const { tab, job, jobId } = await projectWithJob();
    const { tracker, progress } = tracked(tab.client);
    job.step(1);
    await expect.poll(() => tracker.job?.jobId).toBe(jobId);
    expect(progress[0]).toMatchObject({ progress: { jobId, done: 1 }, fresh: true });
  });

  it('finds the running job again through listJobs after a dropped connection, and hears its end', async () => {
    const { tab, dir, job, jobId } = await projectWithJob();
    const { tracker, finished } = tracked(tab.client);
    await tracker.attach();
    // What the studio store does when the connection comes back: reopen the project first.
    const rejoined: Promise<unknown>[] = [];
    tab.client.onReconnect(() => void rejoined.push(tab.client.openProject({ path: dir })));
    tab.drop();
    await expect.poll(() => tab.states).toEqual(['reconnecting', 'open']);
    await Promise.all(rejoined);
    tracker.reset(); // a reloaded page knows nothing yet
    expect(await tracker.attach()).toMatchObject({ jobId, status: 'running' });

    job.finish();
    await expect.poll(() => finished.map((f) => [f.job.jobId, f.job.status, f.followed])).toEqual([[jobId, 'completed', true]]);
    expect(tracker.job).toBeNull();
  });

  it('cancels the job it follows: cancelling until the job ends as cancelled', async () => {
    const { tab, jobId } = await projectWithJob();
    const { tracker, finished } = tracked(tab.client);
    await tracker.cancel(); // following nothing: nothing to cancel
    expect(tracker.cancelling).toBe(false);
    await tracker.attach();

    const cancelled = tracker.cancel();
    expect(tracker.cancelling).toBe(true);
    await cancelled;
    await expect.poll(() => finished.map((f) => [f.job.jobId, f.job.status])).toEqual([[jobId, 'cancelled']]);
    expect(finished[0].job.result).toBeNull();
    expect(finished[0].job.error).toMatchObject({ code: 'CANCELLED' });
    expect(tracker.cancelling).toBe(false);
    expect(tracker.job).toBeNull();
  });

  it('hands over the end of a job of its kind it was not following as such, and keeps the one it follows', async () => {
    const { studio, project, tab, jobId } = await projectWithJob();
    const { tracker, finished } = tracked(tab.client);
    await tracker.attach();
    // A second job of the kind (not exclusive here) that ends at once, without reporting progress.
    const other = studio.startJob(project, 'features', async () => extracted);
    await expect.poll(() => finished.map((f) => [f.job.jobId, f.followed])).toEqual([[other.jobId, false]]);
    expect(tracker.job?.jobId).toBe(jobId);
  });
});
