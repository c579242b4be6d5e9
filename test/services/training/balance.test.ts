// Balanced sampling: a class with under a third of the largest class's training images is
// repeated in each epoch (the plan says so and the run trains on the repeated rows), and
// balanced data is left as it is.

import { describe, expect, it } from 'vitest';
import { classRepeats, MAX_REPEAT, oversampled } from '../../../src/main/services/training/balance';
import { runDetails } from '../../../src/main/services/training/records';
import { planTraining, runTraining } from '../../../src/main/services/training/train';
import { importInto, newProject, put } from '../import/import-helpers';
import { png, scene } from '../doctor/doctor-helpers';
import { tempDir } from '../../helpers';

describe('balanced sampling', () => {
  it('repeats classes under a third of the largest up to a third of it, at most MAX_REPEAT times', () => {
    expect(classRepeats([100, 90, 40])).toBeNull();
    expect(classRepeats([100, 30, 10, 1, 0])).toEqual([1, 2, 4, MAX_REPEAT, 1]);
  });

  it('repeats the rows of a class with their flipped and augmented copies', () => {
    const split = { rows: Int32Array.from([5, 6, 7]), labels: Int32Array.from([0, 1, 0]), flipRows: Int32Array.from([15, 16, 17]), variantRows: Int32Array.from([50, 51, 60, 61, 70, 71]), variantCount: 2 };
    const out = oversampled(split, [1, 3]);
    expect([...out.rows]).toEqual([5, 6, 6, 6, 7]);
    expect([...out.labels]).toEqual([0, 1, 1, 1, 0]);
    expect([...out.flipRows!]).toEqual([15, 16, 16, 16, 17]);
    expect([...out.variantRows!]).toEqual([50, 51, 60, 61, 60, 61, 60, 61, 70, 71]);
    expect(oversampled(split, null)).toBe(split);
  });

  it('is in the one-click plan for imbalanced data, said why, and the run trains on the repeated rows', async () => {
    const project = newProject('balance.loupe');
    const dir = tempDir('loupe-balance-');
    for (let i = 0; i < 12; i++) put(dir, `train/many/m${i}.png`, await png(scene(i + 1, 16, 16), 16, 16));
    for (let i = 0; i < 3; i++) put(dir, `train/few/f${i}.png`, await png(scene(50 + i, 16, 16), 16, 16));
    for (let i = 0; i < 2; i++) put(dir, `val/many/v${i}.png`, await png(scene(80 + i, 16, 16), 16, 16));
    put(dir, 'val/few/v.png', await png(scene(90, 16, 16), 16, 16));
    await importInto(project, [dir]);

    const overrides = { arch: 'mlp', width: 8, height: 8, epochs: 1, batchSize: 4, seed: 1, patience: null } as const;
    const { plan, data } = await planTraining(project, overrides);
    const few = data.classes.findIndex((c) => c.name === 'few');
    expect(plan.config.balance).toEqual(few === 0 ? [2, 1] : [1, 2]);
    expect(plan.explanation.at(-1)).toMatch(/^Balanced sampling: “few” 2x \(classes with under a third/);

    const totals: (number | null)[] = [];
    const result = await runTraining(project, overrides, { onProgress: (_done, total) => totals.push(total) });
    expect(runDetails(project.db, result.runId).config.balance).toEqual(plan.config.balance);
    // 12 + 3 x 2 training images in its one epoch.
    expect(totals.at(-1)).toBe(18);
  }, 60_000);

  it('leaves balanced data as it is', async () => {
    const project = newProject('even.loupe');
    const dir = tempDir('loupe-even-');
    for (let i = 0; i < 6; i++) put(dir, `train/${i % 2 ? 'a' : 'b'}/x${i}.png`, await png(scene(i + 1, 16, 16), 16, 16));
    await importInto(project, [dir]);
    const { plan } = await planTraining(project, { arch: 'mlp', width: 8, height: 8, epochs: 1 });
    expect(plan.config.balance).toBeUndefined();
    expect(plan.explanation.join(' ')).not.toMatch(/Balanced sampling/);
  });
});
