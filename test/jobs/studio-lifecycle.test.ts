// A job outlives the page that started it: when the last window or tab (session) lets go of a
// project while one of its jobs runs, the job goes on and the project stays open; it closes once
// the job ends with nobody back, and a session that comes back finds the job still running.
// Only closing the studio (the server stopping, the app quitting) cancels jobs.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobReporter } from '../../src/main/jobs/jobs';
import { throwIfCancelled } from '../../src/main/jobs/jobs';
import { client } from '../api/api-helpers';
import { makeStudio, tempDir } from '../helpers';

/** Work that runs until `finish()` (or cancellation), reporting one step per `step()`. */
function gatedWork() {
  let finish!: () => void;
  let stepped = 0;
  const gate = new Promise<void>((resolve) => (finish = resolve));
  let reporter: JobReporter | null = null;
  const work = async (r: JobReporter) => {
    reporter = r;
    const cancelled = new Promise<never>((_, reject) => r.signal.addEventListener('abort', () => reject(new Error('aborted'))));
    await Promise.race([gate, cancelled]).catch(() => throwIfCancelled(r.signal));
    throwIfCancelled(r.signal);
    return { images: stepped, failed: 0, seconds: 0 };
  };
  return { work, finish, step: () => reporter!.progress(++stepped, 10, `Step ${stepped}`) };
}

async function projectWithJob() {
  const studio = makeStudio();
  const dir = path.join(tempDir(), 'jobs.loupe');
  const tab = client(studio);
  await tab.api.createProject({ path: dir });
  const project = tab.session.requireProject();
  const gated = gatedWork();
  const { jobId, promise } = studio.startJob(project, 'features', gated.work);
  return { studio, dir, tab, project, gated, jobId, promise };
}

describe('studio: jobs outlive their sessions', () => {
  it('keeps a project open while its job runs after the last session left, and closes it when the job ends', async () => {
    const { studio, tab, project, gated, jobId, promise } = await projectWithJob();
    tab.session.dispose(); // the tab closed, or its connection dropped

    gated.step();
    expect(studio.jobs.running(project.root).map((j) => j.jobId)).toEqual([jobId]);
    expect(project.closed).toBe(false);
    expect(studio.runningJobs()).toMatchObject([{ jobId, kind: 'features', projectPath: project.root, projectName: 'jobs', phase: 'Step 1' }]);
    // The job's database stays usable meanwhile.
    expect(project.db.prepare('SELECT count(*) AS n FROM images').get()).toEqual({ n: 0 });

    gated.finish();
    await expect(promise).resolves.toEqual({ images: 1, failed: 0, seconds: 0 });
    await expect.poll(() => project.closed).toBe(true);
    expect(studio.runningJobs()).toEqual([]);
  });

  it('lets a session that comes back find the running job, cancel it, and keep the project', async () => {
    const { studio, dir, tab, project, gated, jobId, promise } = await projectWithJob();
    tab.session.dispose();
    gated.step();

    const back = client(studio);
    const summary = await back.api.openProject({ path: dir });
    expect(summary.path).toBe(project.root);
    // The same open project, not a second copy of it.
    expect(back.session.requireProject()).toBe(project);
    const [job] = await back.api.listJobs();
    expect(job).toMatchObject({ jobId, status: 'running', done: 1, total: 10, phase: 'Step 1' });

    const ended = back.next('onJobFinished', (j) => j.jobId === jobId);
    await back.api.cancelJob({ jobId });
    expect(await ended).toMatchObject({ status: 'cancelled' });
    await promise.catch(() => {});
    // The project is shown again, so it stays open after its job.
    await new Promise((resolve) => setImmediate(resolve));
    expect(project.closed).toBe(false);
    back.session.dispose();
    expect(project.closed).toBe(true);
  });

  it('still closes a project with no running job as soon as the last session leaves', async () => {
    const studio = makeStudio();
    const tab = client(studio);
    await tab.api.createProject({ path: path.join(tempDir(), 'idle.loupe') });
    const project = tab.session.requireProject();
    const { promise } = studio.startJob(project, 'features', async () => ({ images: 0, failed: 0, seconds: 0 }));
    await promise;
    tab.session.dispose();
    expect(project.closed).toBe(true);
  });

  it('cancels the jobs of a project nobody shows when the studio closes (the server stops, the app quits)', async () => {
    const { studio, tab, project, jobId, promise } = await projectWithJob();
    tab.session.dispose();
    const outcome = promise.then(
      () => 'completed',
      () => studio.jobs.list(project.root).find((j) => j.jobId === jobId)?.status,
    );
    await studio.close();
    expect(await outcome).toBe('cancelled');
    expect(project.closed).toBe(true);
  });
});
