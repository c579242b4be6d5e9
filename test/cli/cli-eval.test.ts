// `loupe eval` and `loupe suggest`, run the way a script runs them (the built CLI).

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluationImages } from '../../src/main/services/evaluation/evaluate';
import { setLabel } from '../../src/main/services/labeling';
import { Project } from '../../src/main/store/project';
import { cliPath, tempDir } from '../helpers';
import { makeEvalProject } from '../services/evaluation/evaluation-helpers';
import { folder } from '../services/import/import-helpers';

function loupe(args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env: { ...process.env, LOUPE_HOME: tempDir('loupe-home-') } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('loupe eval and suggest', () => {
  it('prints a run’s metrics and confusion matrix, and writes suggestions for unlabeled images', async () => {
    const dir = path.join(tempDir(), 'cli-eval.loupe');
    await makeEvalProject(dir, { perClass: 20, unlabeledPerClass: 2 });
    const none = loupe(['eval', dir]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no completed run yet/);

    const train = loupe(['train', dir, '--arch', 'mlp', '--size', '8', '--epochs', '2', '--json']);
    expect(train.code, train.stderr).toBe(0);
    const { runId } = JSON.parse(train.stdout);

    const run = loupe(['eval', dir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    const e = JSON.parse(run.stdout);
    expect(Object.keys(e)).toEqual([
      'runId',
      'split',
      'images',
      'accuracy',
      'macroF1',
      'labels',
      'perClass',
      'confusion',
      'relabeled',
      'excluded',
      'modelLabeled',
      'modelLabeledSinceRun',
      'independent',
    ]);
    expect(e).toMatchObject({ runId, split: 'test', images: 6, labels: ['horizontal', 'vertical', 'diagonal'], relabeled: 0, excluded: 0, modelLabeled: 0 });
    expect(e.independent).toEqual({ images: 6, accuracy: e.accuracy, macroF1: e.macroF1 });
    expect(e.perClass).toHaveLength(3);
    expect(Object.keys(e.perClass[0])).toEqual(['label', 'precision', 'recall', 'f1', 'support']);
    expect(e.perClass.map((c: { support: number }) => c.support)).toEqual([2, 2, 2]);
    expect(e.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(6);

    const val = JSON.parse(loupe(['eval', dir, '--run', String(runId), '--split', 'val', '--json']).stdout);
    expect(val).toMatchObject({ split: 'val', images: 6 });
    const text = loupe(['eval', dir]);
    expect(text.stdout).toMatch(/^Run #\d+ on test \(6 images\): accuracy [\d.]+%, macro F1 [\d.]+%/);
    expect(text.stdout).toMatch(/Confusion matrix \(rows: true class/);
    expect(text.stdout).not.toMatch(/written by a model/);
    expect(loupe(['eval', dir, '--split', 'train']).code).toBe(2);

    // Test labels a model wrote since the run (every one, to its own prediction): the plain score
    // is 100%, and the score on labels no model wrote is the one from before.
    const p = Project.open(dir);
    const wrong = evaluationImages(p.db, runId, 'test', { mode: 'all' });
    wrong.imageIds.forEach((id, i) => setLabel(p.db, [id], wrong.predictedClassIds[i], 'suggestion'));
    p.close();
    const relabeled = JSON.parse(loupe(['eval', dir, '--json']).stdout);
    expect(relabeled).toMatchObject({ accuracy: 1, modelLabeled: 6, modelLabeledSinceRun: 6, independent: e.independent });
    expect(loupe(['eval', dir]).stdout).toMatch(/6 of these labels were written by a model \(6 since the run trained\)[^]*On labels no model wrote[^]*accuracy [\d.]+%/);
    expect(loupe(['eval', dir, '--run', '99']).stderr).toMatch(/no run #99/);

    const suggest = loupe(['suggest', dir, '--json']);
    expect(suggest.code, suggest.stderr).toBe(0);
    const s = JSON.parse(suggest.stdout);
    expect(s).toMatchObject({ runId, images: 6, failed: 0 });
    expect(s.classes.reduce((n: number, c: { count: number }) => n + c.count, 0)).toBe(6);
    // Suggestions are not labels: the project still has its 6 unlabeled images.
    expect(JSON.parse(loupe(['status', dir, '--json']).stdout).unlabeled).toBe(6);

    const check = loupe(['label-errors', dir, '--folds', '2', '--epochs', '1', '--json']);
    expect(check.code, check.stderr).toBe(0);
    const found = JSON.parse(check.stdout);
    expect(found.check).toMatchObject({ runId, folds: 2, epochs: 1, images: 60 });
    expect(found.issues).toHaveLength(found.check.flagged);
    expect(found.check.reliability.map((g: { source: string }) => g.source)).toEqual(['fold', 'run']);
    const listed = loupe(['label-errors', dir, '--folds', '2', '--epochs', '1']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/Models trained without each image \(2 folds\) agree with \d+% of the 48 training labels/);
    for (const issue of found.issues) expect(Object.keys(issue)).toEqual(['imageId', 'name', 'path', 'split', 'given', 'suggested', 'givenProbability', 'suggestedProbability', 'source']);
    expect(loupe(['label-errors', dir, '--folds', '1']).code).toBe(2);
  }, 60_000);

  it('says a run with no validation or test images has nothing to score, rather than 0%', async () => {
    // Two images per class, all in train: too few to hold any out for validation.
    const src = await folder({ 'a/1.png': 1, 'a/2.png': 2, 'b/3.png': 3, 'b/4.png': 4 });
    const dir = path.join(tempDir(), 'tiny.loupe');
    expect(loupe(['create', dir]).code).toBe(0);
    expect(loupe(['import', dir, src]).code).toBe(0);
    const train = loupe(['train', dir, '--arch', 'mlp', '--size', '8', '--epochs', '2', '--json']);
    expect(train.code, train.stderr).toBe(0);
    // The best epoch was picked on training accuracy: that is not reported as a validation score.
    expect(JSON.parse(train.stdout)).toMatchObject({ status: 'completed', valAccuracy: null, testAccuracy: null });

    const e = JSON.parse(loupe(['eval', dir, '--json']).stdout);
    expect(e).toMatchObject({ images: 0, accuracy: null, macroF1: null });
    const text = loupe(['eval', dir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^Run #1 has no validation images to score: the split was empty when it trained \(with only a few images per class, all of them train\)\./);
    expect(text.stdout).not.toMatch(/0\.00%/);
  }, 60_000);
});
