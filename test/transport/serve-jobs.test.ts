// The real `loupe serve`: a training goes on after the connection that started it is gone
// (another connection sees it advance), and stopping the server still stops it cleanly: the run
// is recorded as cancelled, not left running or found interrupted.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobProgress, RunningJob, TrainStarted } from '../../src/shared/types';
import { listRuns } from '../../src/main/services/training/records';
import { Project } from '../../src/main/store/project';
import { serve } from '../e2e/harness';
import { tempDir } from '../helpers';
import { makePatternProject } from '../services/training/train-helpers';
import { connectApi } from './ws-api';

describe('loupe serve: a job outlives its connection', () => {
  it('keeps training with no connection left, and cancels the run cleanly when the server stops', { timeout: 120_000 }, async () => {
    const dir = path.join(tempDir(), 'served.loupe');
    await makePatternProject(dir, { perClass: 30, size: 8 });
    const server = await serve();

    const tab = await connectApi(server.openUrl);
    const epochs: JobProgress[] = [];
    tab.onEvent((name, payload) => {
      if (name === 'onJobProgress' && /^Epoch /.test((payload as JobProgress).phase)) epochs.push(payload as JobProgress);
    });
    await tab.value('openProject', { path: dir });
    // Minutes here at 32 px: it cannot end on its own during the test, even on a fast machine.
    const overrides = { arch: 'mlp', width: 32, height: 32, epochs: 1000, patience: null, workers: 1 };
    const started = await tab.value<TrainStarted>('startTraining', { overrides });
    await expect.poll(() => epochs.length, { timeout: 60_000 }).toBeGreaterThan(0);
    tab.close(); // the tab is gone: no session has the project open

    // Another page, with no project open, sees the training still advancing.
    const other = await connectApi(server.openUrl);
    const running = () => other.value<RunningJob[]>('runningJobs');
    const [first] = await running();
    expect(first).toMatchObject({ jobId: started.jobId, kind: 'train', projectName: 'served' });
    await expect.poll(async () => (await running())[0]?.done ?? -1, { timeout: 60_000 }).toBeGreaterThan(first.done);
    other.close();

    server.proc.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => server.proc.once('exit', resolve));
    expect(code).toBe(0);
    const project = Project.open(dir);
    try {
      expect(listRuns(project.db).map((r) => [r.id, r.status])).toEqual([[started.runId, 'cancelled']]);
    } finally {
      project.close();
    }
  });
});
