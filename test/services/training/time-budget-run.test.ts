// One click's time budget through a real run: the replicas fit the epochs to the deadline, the
// run records the new count and why in its plan, and progress counts the new epochs. The budget
// is put into the plan here (one click sets it only on 10,000 images or more); a deadline already
// past and one far off make the outcome the same on any machine.

import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { TimeBudget, TrainProgress } from '../../../src/shared/types';
import { listRuns, runDetails } from '../../../src/main/services/training/records';
import { runTraining } from '../../../src/main/services/training/train';
import { Project } from '../../../src/main/store/project';
import { onCleanup, tempDir } from '../../helpers';
import { makePatternProject } from './train-helpers';

let budget: TimeBudget | null = null;

vi.mock('../../../src/main/services/training/plan', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../../src/main/services/training/plan')>();
  return {
    ...actual,
    planRun: async (...args: Parameters<typeof actual.planRun>) => {
      const plan = await actual.planRun(...args);
      return budget ? { ...plan, config: { ...plan.config, timeBudget: budget } } : plan;
    },
  };
});

async function patternProject(): Promise<Project> {
  const dir = path.join(tempDir(), 'patterns.loupe');
  await makePatternProject(dir, { perClass: 20, size: 12 });
  const project = Project.open(dir);
  onCleanup(() => project.close());
  return project;
}

// No early stopping: the epochs trained are the budget's alone.
const settings = { arch: 'cnn-small', epochs: 4, batchSize: 16, seed: 7, patience: null } as const;

describe('a run under a time budget', () => {
  it('trains the fewest epochs worth running when the deadline has passed, and records the new count and why', async () => {
    const project = await patternProject();
    budget = { seconds: 0, minEpochs: 2, maxEpochs: 6 };
    const told: [number, string][] = [];
    const progress: TrainProgress[] = [];
    const result = await runTraining(project, settings, { onEpochs: (n, why) => void told.push([n, why]), onProgress: (_d, _t, _p, detail) => detail && progress.push(detail) });
    expect(result.status).toBe('completed');
    expect(result.epochs).toBe(2);
    expect(told).toHaveLength(1);
    expect(told[0][0]).toBe(2);
    expect(told[0][1]).toMatch(/^2 epochs, not 4: epoch 1 took \d+ s an epoch at [\d,]+ images\/s, slower than the plan timed, so 2 fit the 0 min one click aims at, the final test included \(only 1 fit; 2 are the fewest worth running\)\.$/);
    // The run is set to the new count, so it does not read as stopped early, and its plan says why.
    const run = runDetails(project.db, result.runId);
    expect(run.config.epochs).toBe(2);
    expect(run.plan!.config.epochs).toBe(2);
    expect(run.plan!.explanation.at(-1)).toBe(told[0][1]);
    expect(listRuns(project.db)[0]).toMatchObject({ epochs: 2, plannedEpochs: 2 });
    expect(progress.at(-1)!.epochs).toBe(2);
  });

  it('trains up to what the data is worth when the deadline is far off', async () => {
    const project = await patternProject();
    budget = { seconds: 1e6, minEpochs: 2, maxEpochs: 6 };
    const result = await runTraining(project, settings);
    expect(result.epochs).toBe(6);
    expect(runDetails(project.db, result.runId).plan!.explanation.at(-1)).toMatch(/^6 epochs, not 4: .* faster than the plan timed, .* \(6 is what the data is worth\)\.$/);
    // Without a budget the plan's epochs stand.
    budget = null;
    expect((await runTraining(project, settings)).epochs).toBe(4);
  });
});
