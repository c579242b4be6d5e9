// Evaluation, suggestions and the label-error finder on a generated data set (noisy colours, so
// plainly separable that a small MLP is sure of them) with planted label errors: one run trained
// once, each test on its own copy of the project.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wholePercent, type JobInfo, type LabelCheckInfo, type SuggestResult } from '../../../src/shared/types';
import * as history from '../../../src/main/services/history';
import * as labeling from '../../../src/main/services/labeling';
import { compareRuns, evaluateRun, evaluationImages, scoredPredictions, runInfo } from '../../../src/main/services/evaluation/evaluate';
import { runLabelCheck } from '../../../src/main/services/evaluation/label-check';
import { listLabelIssues, resolveLabelIssues } from '../../../src/main/services/evaluation/label-issues';
import { acceptSuggestions, listSuggestions, runSuggestions } from '../../../src/main/services/evaluation/suggestions';
import { runTraining } from '../../../src/main/services/training/train';
import { Project } from '../../../src/main/store/project';
import { client, finished } from '../../api/api-helpers';
import { makeStudio, onCleanup, tempDir } from '../../helpers';
import { makeEvalProject } from './evaluation-helpers';

// Planted errors: a red training image labeled green (found by the k-fold models) and a red test
// image labeled blue (found through the run's own predictions).
const PLANTED_TRAIN = 'red_1.png';
const PLANTED_TEST = 'red_9.png';
const CLASSES = ['red', 'green', 'blue'];
const FAST = { arch: 'mlp', width: 8, height: 8, epochs: 10, seed: 3, patience: null } as const;

let base: string;
let runId: number;

beforeAll(async () => {
  base = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-eval-')), 'eval.loupe');
  await makeEvalProject(base, {
    look: 'colors',
    perClass: 60,
    mislabel: [
      { cls: 0, i: 1, as: 1 },
      { cls: 0, i: 9, as: 2 },
    ],
    unlabeledPerClass: 4,
  });
  const project = Project.open(base);
  try {
    runId = (await runTraining(project, FAST)).runId;
  } finally {
    project.close();
  }
}, 120_000);

afterAll(() => fs.rmSync(path.dirname(base), { recursive: true, force: true }));

/** A private copy of the trained project. */
function copy(): Project {
  const dir = path.join(tempDir(), 'copy.loupe');
  fs.cpSync(base, dir, { recursive: true });
  const project = Project.open(dir);
  onCleanup(() => project.close());
  return project;
}

const idOf = (p: Project, name: string) => p.db.prepare('SELECT id FROM images WHERE original_name = ?').pluck().get(name) as number;
const classId = (p: Project, name: string) => p.db.prepare('SELECT id FROM classes WHERE name = ?').pluck().get(name) as number;
const labelOf = (p: Project, imageId: number) =>
  p.db.prepare('SELECT class_id AS classId, source FROM labels WHERE image_id = ?').get(imageId) as { classId: number; source: string } | undefined;

describe('evaluating a run', () => {
  it('reports accuracy, per-class scores and a confusion matrix that sums to the split size', () => {
    const p = copy();
    const e = evaluateRun(p.db);
    expect(e.runId).toBe(runId);
    expect(e.split).toBe('test');
    expect(e.available).toEqual({ val: 18, test: 18 });
    expect(e.images).toBe(18);
    expect(e.confusion.flat().reduce((a, b) => a + b, 0)).toBe(18);
    expect(e.labels).toEqual(CLASSES);
    expect(e.accuracy).toBeCloseTo(e.confusion.reduce((s, row, t) => s + row[t], 0) / 18, 12);
    expect(e.accuracy).toBeGreaterThan(0.7);
    expect(e.perClass.map((c) => c.support)).toEqual(e.confusion.map((row) => row.reduce((a, b) => a + b, 0)));
    expect(e.macroF1).toBeCloseTo(e.perClass.reduce((s, c) => s + c.f1, 0) / 3, 12);
    expect(e.coverage[0]).toMatchObject({ threshold: 0, answered: 18, coverage: 1, accuracy: e.accuracy });
    expect(e.histogram.reduce((s, b) => s + b.correct + b.wrong, 0)).toBe(18);
    expect(evaluateRun(p.db, runId, 'val').images).toBe(18);
  });

  it('judges against the current labels, so fixing a label moves the image in the matrix', () => {
    const p = copy();
    const run = runInfo(p.db, runId);
    const before = evaluateRun(p.db);
    const image = scoredPredictions(p.db, run, 'test').images[0];
    const moved = (image.truth + 1) % 3;
    labeling.setLabel(p.db, [image.imageId], run.classes[moved].id);
    const after = evaluateRun(p.db);
    expect(after.confusion[image.truth][image.predicted]).toBe(before.confusion[image.truth][image.predicted] - 1);
    expect(after.confusion[moved][image.predicted]).toBe(before.confusion[moved][image.predicted] + 1);
    expect(after.relabeled).toBe(before.relabeled + 1);
    // Unlabeled or removed images leave the evaluation.
    labeling.setLabel(p.db, [image.imageId], null);
    expect(evaluateRun(p.db)).toMatchObject({ images: 17, excluded: 1 });
  });

  it('a score that is not raised by accepting the model’s own labels: scored again on the labels no model wrote', () => {
    const p = copy();
    const run = runInfo(p.db, runId);
    const before = evaluateRun(p.db);
    expect(before).toMatchObject({ modelLabeled: 0, modelLabeledSinceRun: 0, independent: { images: 18, accuracy: before.accuracy, macroF1: before.macroF1 } });
    // Accept the model's word on every test image it gets "wrong" (the planted error among them).
    const wrong = evaluationImages(p.db, runId, 'test', { mode: 'misclassified' });
    expect(wrong.imageIds.length).toBeGreaterThan(0);
    wrong.imageIds.forEach((id, i) => labeling.setLabel(p.db, [id], wrong.predictedClassIds[i], 'check'));
    const after = evaluateRun(p.db);
    expect(after.accuracy).toBe(1);
    expect(after).toMatchObject({ modelLabeled: wrong.imageIds.length, modelLabeledSinceRun: wrong.imageIds.length });
    expect(after.independent).toEqual(before.independent);
    // Compare says the same for both sides.
    const c = compareRuns(p.db, runId, runId);
    expect(c.modelLabeled).toBe(wrong.imageIds.length);
    expect(c.a.accuracy).toBe(1);
    expect(c.a.independent.accuracy).toBe(before.accuracy);

    // A person who looks and labels the image makes it theirs: counted as given.
    const [first] = wrong.imageIds;
    labeling.setLabel(p.db, [first], wrong.predictedClassIds[0], 'user');
    const mine = evaluateRun(p.db);
    expect(mine.modelLabeled).toBe(wrong.imageIds.length - 1);
    expect(mine.independent.accuracy).toBeCloseTo((before.accuracy! * 18 + 1) / 18, 12);
    // A label a model wrote before the run has no label of a person's behind it: left out.
    if (wrong.imageIds.length > 1) {
      p.db.prepare('UPDATE labels SET updated_at = ? WHERE image_id = ?').run(run.createdAt - 1, wrong.imageIds[1]);
      const early = evaluateRun(p.db);
      expect(early).toMatchObject({ modelLabeled: wrong.imageIds.length - 1, modelLabeledSinceRun: wrong.imageIds.length - 2 });
      expect(early.independent.images).toBe(17);
    }
  });

  it('lists exactly the images of a confusion cell, and the top losses and least confident ones in order', () => {
    const p = copy();
    const run = runInfo(p.db, runId);
    const scored = scoredPredictions(p.db, run, 'test').images;
    const e = evaluateRun(p.db);
    for (let t = 0; t < 3; t++) {
      for (let q = 0; q < 3; q++) {
        const cell = evaluationImages(p.db, runId, 'test', { mode: 'all', trueClassId: e.classIds[t], predictedClassId: e.classIds[q] });
        expect(cell.imageIds).toHaveLength(e.confusion[t][q]);
        expect(new Set(cell.imageIds)).toEqual(new Set(scored.filter((s) => s.truth === t && s.predicted === q).map((s) => s.imageId)));
        expect(cell.predictedClassIds.every((c) => c === e.classIds[q])).toBe(true);
      }
    }
    const wrong = evaluationImages(p.db, runId, 'test', { mode: 'misclassified' });
    expect(wrong.imageIds).toHaveLength(18 - Math.round(e.accuracy! * 18));
    const loss = new Map(scored.map((s) => [s.imageId, s.loss]));
    const losses = wrong.imageIds.map((id) => loss.get(id)!);
    expect(losses).toEqual([...losses].sort((a, b) => b - a));
    const unsure = evaluationImages(p.db, runId, 'test', { mode: 'leastConfident' });
    expect(unsure.imageIds).toHaveLength(Math.round(e.accuracy! * 18));
    expect(unsure.confidences).toEqual([...unsure.confidences].sort((a, b) => a - b));
    const ofClass = evaluationImages(p.db, runId, 'test', { mode: 'all', trueClassId: e.classIds[1] });
    expect(ofClass.imageIds).toHaveLength(e.perClass[1].support);
  });

  it('compares two runs on the same images, listing what one gets right and the other not', async () => {
    const p = copy();
    const same = compareRuns(p.db, runId, runId);
    expect(same.a).toEqual({ ...same.b, runId });
    expect([same.aOnlyCorrect, same.bOnlyCorrect]).toEqual([[], []]);

    const weak = await runTraining(p, { arch: 'mlp', width: 8, height: 8, epochs: 1, seed: 1, patience: null });
    const c = compareRuns(p.db, runId, weak.runId);
    const ea = evaluateRun(p.db, runId);
    const eb = evaluateRun(p.db, weak.runId);
    expect(c.images).toBe(18);
    expect(c.a).toMatchObject({ runId, accuracy: ea.accuracy, macroF1: ea.macroF1 });
    expect(c.b).toMatchObject({ runId: weak.runId, accuracy: eb.accuracy });
    // Accuracy differs by exactly what only one of them gets right.
    expect(Math.round((c.a.accuracy - c.b.accuracy) * 18)).toBe(c.aOnlyCorrect.length - c.bOnlyCorrect.length);
    for (const im of c.aOnlyCorrect) expect([im.a.classId === im.trueClassId, im.b.classId === im.trueClassId]).toEqual([true, false]);
    expect(c.perClass.map((k) => k.label)).toEqual(CLASSES);
    expect(c.perClass[0].a.f1).toBeCloseTo(ea.perClass[0].f1, 12);
  }, 60_000);
});

describe('model suggestions for unlabeled images', () => {
  it('suggests a class for every unlabeled image, least confident first, mostly right', async () => {
    const p = copy();
    const result = await runSuggestions(p, undefined);
    expect(result).toMatchObject({ runId, images: 12, failed: 0 });
    expect(result.classes.reduce((s, c) => s + c.count, 0)).toBe(12);
    const list = listSuggestions(p.db);
    expect(list.runId).toBe(runId);
    expect(list.imageIds).toHaveLength(12);
    expect(list.confidences).toEqual([...list.confidences].sort((a, b) => a - b));
    const names = p.db.prepare('SELECT id, original_name AS name FROM images').all() as { id: number; name: string }[];
    const truth = new Map(names.map((n) => [n.id, n.name.split('_')[1]]));
    const right = list.imageIds.filter((id, i) => truth.get(id) === CLASSES[list.classIds[i] - 1]).length;
    expect(right).toBeGreaterThanOrEqual(11);
  });

  it('accepts one or all above a confidence, never overwrites a label, and undoes', async () => {
    const p = copy();
    await runSuggestions(p, runId);
    const list = listSuggestions(p.db);
    const [first, second] = list.imageIds;
    expect(acceptSuggestions(p.db, { imageIds: [first] })).toEqual([first]);
    expect(labelOf(p, first)).toEqual({ classId: list.classIds[0], source: 'suggestion' });
    expect(listSuggestions(p.db).imageIds).not.toContain(first);

    // A label given by a person stays, whatever the model suggests.
    const other = classId(p, 'red') === list.classIds[1] ? classId(p, 'green') : classId(p, 'red');
    labeling.setLabel(p.db, [second], other);
    expect(acceptSuggestions(p.db, { imageIds: [second] })).toEqual([]);
    expect(labelOf(p, second)).toEqual({ classId: other, source: 'user' });

    // A bulk accept compares whole percents, as shown: a suggestion shown as 90% is accepted at 90%.
    const threshold = list.confidences[6];
    const above = list.imageIds.filter((_, i) => wholePercent(list.confidences[i]) >= wholePercent(threshold) && i > 1);
    expect(acceptSuggestions(p.db, { minConfidence: threshold }).sort()).toEqual(above.sort());
    expect(history.undoState(p.db).undo).toBe(`Accept ${above.length} suggested labels`);
    history.undo(p.db);
    expect(above.every((id) => labelOf(p, id) === undefined)).toBe(true);
    expect(listSuggestions(p.db).imageIds).toEqual(expect.arrayContaining(above));
    history.redo(p.db);
    expect(above.every((id) => labelOf(p, id)?.source === 'suggestion')).toBe(true);
    expect(() => acceptSuggestions(p.db, {})).toThrow(/Say which/);
  });

  it('accepts what is shown as 90% at “90% or more”, and in bulk only training images unless asked', async () => {
    const p = copy();
    await runSuggestions(p, runId);
    const list = listSuggestions(p.db);
    expect(list.splits.every((s) => s === 'train')).toBe(true);
    const [a, b, c] = list.imageIds;
    // Shown as 90% (rounded), and one just below what rounds to 90%.
    p.db.prepare('UPDATE suggestions SET confidence = ? WHERE image_id = ?').run(0.896, a);
    p.db.prepare('UPDATE suggestions SET confidence = ? WHERE image_id = ?').run(0.8949, b);
    p.db.prepare('UPDATE suggestions SET confidence = ? WHERE image_id = ?').run(0.95, c);
    p.db.prepare('UPDATE suggestions SET confidence = 0.5 WHERE image_id NOT IN (?, ?, ?)').run(a, b, c);
    expect(wholePercent(0.896)).toBe(90);
    // A test image is left out of a bulk accept unless its split is named.
    labeling.moveToSplit(p.db, [c], 'test');
    const now = listSuggestions(p.db);
    expect(now.splits[now.imageIds.indexOf(c)]).toBe('test');
    expect(acceptSuggestions(p.db, { minConfidence: 0.9 })).toEqual([a]);
    expect(labelOf(p, b)).toBeUndefined();
    expect(labelOf(p, c)).toBeUndefined();
    expect(acceptSuggestions(p.db, { minConfidence: 0.9, splits: ['train', 'val', 'test'] })).toEqual([c]);
    expect(labelOf(p, c)?.source).toBe('suggestion');
  });
});

describe('label-error finder', () => {
  it('finds the planted mislabeled images out of sample, and accepting fixes one undoably', async () => {
    const p = copy();
    const phases: string[] = [];
    const totals = new Set<number | null>();
    let last = 0;
    const check = await runLabelCheck(p, runId, {
      epochs: 10,
      onProgress: (done, total, phase) => {
        phases.push(phase);
        if (phase.startsWith('Fold')) {
          totals.add(total);
          expect(done).toBeGreaterThanOrEqual(last);
          last = done;
        }
      },
    });
    expect(check).toMatchObject({ runId, folds: 4, epochs: 10, images: 180 });
    expect(phases).toContain('Fold 4 of 4, epoch 10 of 10');
    // Progress counts images (the 144 training images judged), not images × epochs or folds.
    expect([...totals]).toEqual([144]);
    expect(last).toBe(144);
    // 48 training images per colour, one red one planted as green.
    expect(check.reliability.find((g) => g.source === 'fold')).toMatchObject({ images: 144, fewestPerClass: 47, medianPerClass: 48 });
    expect(check.verdict).toMatch(/agree with \d+% of the 144 training labels/);
    const { issues } = listLabelIssues(p.db);
    console.log(`label check: ${check.flagged} of ${check.images} flagged in ${check.seconds.toFixed(1)} s`);
    const planted = idOf(p, PLANTED_TRAIN);
    const issue = issues.find((i) => i.imageId === planted);
    expect(issue).toMatchObject({ split: 'train', source: 'fold', givenClassId: classId(p, 'green'), suggestedClassId: classId(p, 'red'), status: 'pending' });
    expect(issue!.suggestedProbability).toBeGreaterThan(0.9);
    expect(issues.find((i) => i.imageId === idOf(p, PLANTED_TEST))).toMatchObject({ split: 'test', source: 'run', givenClassId: classId(p, 'blue'), suggestedClassId: classId(p, 'red') });
    // Few false alarms on clean data: the planted images and at most a couple more.
    expect(check.flagged).toBeLessThanOrEqual(4);

    expect(resolveLabelIssues(p.db, [planted], 'accept')).toEqual([planted]);
    // Marked as written by a model: scores count it apart.
    expect(labelOf(p, planted)).toEqual({ classId: classId(p, 'red'), source: 'check' });
    expect(listLabelIssues(p.db).issues.map((i) => i.imageId)).not.toContain(planted);
    expect(listLabelIssues(p.db, 'accepted').issues.map((i) => i.imageId)).toEqual([planted]);
    history.undo(p.db);
    expect(labelOf(p, planted)).toEqual({ classId: classId(p, 'green'), source: 'import' });
    expect(listLabelIssues(p.db).issues.map((i) => i.imageId)).toContain(planted);

    const rest = listLabelIssues(p.db).issues.map((i) => i.imageId);
    expect(resolveLabelIssues(p.db, rest, 'dismiss').sort()).toEqual([...rest].sort());
    expect(listLabelIssues(p.db).issues).toEqual([]);
    expect(labelOf(p, planted)?.classId).toBe(classId(p, 'green'));
    history.undo(p.db);
    expect(listLabelIssues(p.db).issues).toHaveLength(rest.length);
    // An issue whose image was relabeled by hand meanwhile is moot.
    labeling.setLabel(p.db, [planted], classId(p, 'blue'));
    expect(listLabelIssues(p.db).issues.map((i) => i.imageId)).not.toContain(planted);
    expect(resolveLabelIssues(p.db, [planted], 'accept')).toEqual([]);
  }, 120_000);
});

describe('evaluation API', () => {
  it('runs suggestions as a job, and accepting tells the other windows', async () => {
    const p = copy();
    const dir = p.root;
    p.close();
    const studio = makeStudio();
    const a = client(studio);
    const b = client(studio);
    await a.api.openProject({ path: dir });
    await b.api.openProject({ path: dir });
    expect((await a.api.evaluateRun()).runId).toBe(runId);
    const { jobId, runId: used } = await a.api.startSuggestions();
    expect(used).toBe(runId);
    await expect(a.api.startSuggestions()).rejects.toMatchObject({ code: 'BUSY' });
    const job = (await finished(a, jobId)) as JobInfo;
    expect(job).toMatchObject({ kind: 'suggest', status: 'completed' });
    expect((job.result as SuggestResult).images).toBe(12);
    const list = await a.api.suggestions();
    const changed = b.next('onImagesChanged');
    const result = await a.api.acceptSuggestions({ minConfidence: 0 });
    expect(result.changed).toBe(12);
    expect((await changed).imageIds?.sort()).toEqual([...list.imageIds].sort());
    expect((await a.api.projectSummary()).unlabeled).toBe(0);
    expect(result.undo.undo).toBe('Accept 12 suggested labels');
    await expect(a.api.evaluateRun({ runId: 999 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // Taking a test image's prediction as its label (A in the Evaluate gallery) is a model's word.
    const misclassified = await a.api.evaluationImages({ runId, split: 'test', filter: { mode: 'misclassified' } });
    const [wrong] = misclassified.imageIds;
    await a.api.setLabel({ imageIds: [wrong], classId: misclassified.predictedClassIds[0], source: 'suggestion' });
    expect((await a.api.imageDetails({ id: wrong })).labelSource).toBe('suggestion');
    expect(await a.api.evaluateRun()).toMatchObject({ modelLabeled: 1, modelLabeledSinceRun: 1 });
    const check = await a.api.startLabelCheck({ epochs: 1, folds: 2 });
    const done = (await finished(a, check.jobId)) as JobInfo;
    expect(done).toMatchObject({ kind: 'labelErrors', status: 'completed' });
    expect((done.result as LabelCheckInfo).folds).toBe(2);
    expect((await a.api.labelIssues()).check?.id).toBe((done.result as LabelCheckInfo).id);
  }, 60_000);
});
