// The Evaluate view and model-assisted labeling in the real UI (browser mode, Chromium): a
// confusion-matrix cell opens exactly its images, fixing a label there moves the counts, and a
// suggestion is accepted with one key in the Label view.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { evaluateRun, evaluationImages } from '../../src/main/services/evaluation/evaluate';
import { Project } from '../../src/main/store/project';
import { makeEvalProject } from '../services/evaluation/evaluation-helpers';
import { cliPath, tempDir } from '../helpers';
import { folder } from '../services/import/import-helpers';
import { dropConnection, hasChromium, JOB_WAIT, launch, newPage, reconnect, serve, watchSockets, toolbarLayout } from './harness';

const CLASSES = ['red', 'green', 'blue'];
const cellOf = (page: Page, t: string, p: string) => page.locator(`[data-testid=cm-cell][data-true-class="${t}"][data-predicted-class="${p}"]`);
const countOf = async (page: Page, t: string, p: string) => Number(await cellOf(page, t, p).getAttribute('data-count'));
const thumb = (page: Page, index: number) => page.locator(`[data-testid=cell][data-index="${index}"]`);
const thumbLabel = async (page: Page, index: number) => ((await thumb(page, index).getByTestId('cell-label').textContent()) ?? '').trim();

function train(dir: string, args: string[]) {
  const run = spawnSync(process.execPath, [cliPath, 'train', dir, ...args, '--json'], { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
}

/** A trained project with planted label errors in its test split, and a few unlabeled images. */
async function trainedProject() {
  const dir = path.join(tempDir(), 'evaluate.loupe');
  // Test images are i = 9, 19, ... 59 of each class: three red ones are labeled green.
  await makeEvalProject(dir, {
    look: 'colors',
    perClass: 60,
    mislabel: [9, 19, 29].map((i) => ({ cls: 0, i, as: 1 })),
    unlabeledPerClass: 3,
  });
  train(dir, ['--arch', 'mlp', '--size', '8', '--epochs', '10', '--seed', '3', '--no-early-stop']);
  // What the UI must show, computed by the core itself before the server opens the project.
  const project = Project.open(dir);
  try {
    const e = evaluateRun(project.db);
    let worst = { t: 0, p: 1, n: -1 };
    e.confusion.forEach((row, t) => row.forEach((n, p) => t !== p && n > worst.n && (worst = { t, p, n })));
    expect(worst.n, `no misclassified test image: ${JSON.stringify(e.confusion)}`).toBeGreaterThan(0);
    const cell = evaluationImages(project.db, e.runId, 'test', { mode: 'all', trueClassId: e.classIds[worst.t], predictedClassId: e.classIds[worst.p] });
    const names = cell.imageIds.map((id) => project.db.prepare('SELECT original_name FROM images WHERE id = ?').pluck().get(id) as string);
    return { dir, e, t: CLASSES[worst.t], p: CLASSES[worst.p], pIndex: worst.p, names };
  } finally {
    project.close();
  }
}

/** The studio on `dir` in Chromium, showing the Evaluate view. */
async function openEvaluateView(dir: string) {
  const server = await serve(['--project', dir]);
  const browser = await launch();
  const opened = await newPage(browser);
  await opened.page.goto(server.openUrl);
  await opened.page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Evaluate' }).click();
  return { ...opened, server };
}

describe.runIf(hasChromium)('evaluate view (Chromium, browser mode)', () => {
  it('opens a confusion cell’s images, fixes a label there, and accepts a suggestion in the Label view', async () => {
    const { dir, e, t, p, pIndex, names } = await trainedProject();
    const { page, problems } = await openEvaluateView(dir);
    await page.getByTestId('confusion-matrix').waitFor();

    // The matrix and the scores are the core's.
    expect(await page.getByTestId('cm-cell').count()).toBe(9);
    expect(await countOf(page, t, p)).toBe(names.length);
    expect(await page.getByTestId('eval-images').textContent()).toBe(String(e.images));
    expect(await page.getByTestId('eval-accuracy').textContent()).toBe(`${(e.accuracy! * 100).toFixed(1)}%`);
    const diagonal = await countOf(page, p, p);

    // A cell shows exactly its images: true t, predicted p, each with the model's confidence.
    await cellOf(page, t, p).click();
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe(`${names.length} image${names.length === 1 ? '' : 's'}`);
    expect(await page.getByTestId('gallery-title').textContent()).toBe(`True “${t}”, predicted “${p}”`);
    await thumb(page, names.length - 1).locator('img').waitFor();
    const shown = await page.locator('[data-testid=cell] img').evaluateAll((imgs) => imgs.map((i) => i.getAttribute('alt')));
    expect(new Set(shown)).toEqual(new Set(names));
    for (let i = 0; i < names.length; i++) {
      expect(await thumbLabel(page, i)).toBe(t);
      expect(await thumb(page, i).getByTestId('prediction').textContent()).toMatch(new RegExp(`^${p}\\d+%$`));
    }

    // Fix the first one where it was found: the key of class p relabels it, and the counts move.
    await page.keyboard.press(String(pIndex + 1));
    await expect.poll(() => thumbLabel(page, 0)).toBe(p);
    await expect.poll(() => countOf(page, t, p)).toBe(names.length - 1);
    await expect.poll(() => countOf(page, p, p)).toBe(diagonal + 1);
    await expect.poll(() => page.getByTestId('eval-relabeled').textContent()).toMatch(/^1 relabeled since this run/);
    // Undo puts it back.
    await page.keyboard.press('Control+z');
    await expect.poll(() => countOf(page, t, p)).toBe(names.length);
    // The large view opens here too (Space on the grid; on a focused button Space presses it), and Escape closes it.
    await thumb(page, 0).click();
    await page.keyboard.press('Space');
    await page.getByTestId('viewer').waitFor();
    await page.keyboard.press('Escape');
    expect(await page.getByTestId('viewer').count()).toBe(0);

    // Model-assisted labeling: suggestions on the unlabeled images, one key accepts.
    await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Label' }).click();
    await page.getByTestId('filter-unlabeled').click();
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe('9 images');
    await page.getByTestId('suggest-button').click();
    await expect.poll(() => page.getByTestId('suggestion-count').textContent(), JOB_WAIT).toBe('9');
    await expect.poll(() => page.getByTestId('suggestion').count(), JOB_WAIT).toBe(9);
    await page.getByLabel('Order').selectOption('confidence');
    await thumb(page, 0).getByTestId('suggestion').waitFor();
    const suggested = ((await thumb(page, 0).getByTestId('suggestion').textContent()) ?? '').replace(/^\?/, '').replace(/\d+%$/, '');
    expect(CLASSES).toContain(suggested);
    await thumb(page, 0).click();
    await page.keyboard.press('a');
    // Labeled as suggested, and marked as written by a model.
    await expect.poll(() => thumbLabel(page, 0)).toBe(suggested);
    expect(await thumb(page, 0).getByTestId('cell-label').getByTestId('model-label').getAttribute('title')).toMatch(/^Label written by a model \(an accepted suggestion\)/);
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe('8');
    await expect.poll(() => page.getByTestId('suggestion-count').textContent()).toBe('8');

    // Bulk: every suggestion at or above the threshold.
    await page.getByLabel('Accept threshold').fill('0.5');
    const bulk = Number(((await page.getByTestId('accept-above').textContent()) ?? '').replace(/\D/g, ''));
    expect(bulk).toBeGreaterThan(0);
    await page.getByTestId('accept-above').click();
    // It asks first, with the count (all of them train images here).
    await page.getByTestId('bulk-accept').waitFor();
    expect(await page.getByTestId('bulk-count').textContent()).toBe(String(bulk));
    expect(await page.getByTestId('count-unlabeled').textContent()).toBe('8');
    await page.getByTestId('bulk-confirm').click();
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe(String(8 - bulk));
    expect(problems).toEqual([]);
  }, 120_000);

  it('compares two runs and reviews likely label errors: accept with A, dismiss with D', async () => {
    const { dir } = await trainedProject();
    train(dir, ['--arch', 'mlp', '--size', '8', '--epochs', '1', '--seed', '1', '--no-augment', '--lr', '0.0001']);
    const { page, problems } = await openEvaluateView(dir);
    await page.getByTestId('confusion-matrix').waitFor();

    // Side by side with the weak run: its accuracy delta, and the images only one gets right.
    await page.getByLabel('Compare with').selectOption({ index: 1 });
    await page.getByTestId('run-compare').waitFor();
    expect(await page.getByTestId('delta-accuracy').textContent()).toMatch(/^[+−±]\d+\.\d$/);
    const better = page.getByTestId('compare-a');
    const n = Number(((await better.textContent()) ?? '').replace(/.*:\s*/, ''));
    if (n > 0) {
      await better.click();
      await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe(`${n} image${n === 1 ? '' : 's'}`);
    }

    // The finder runs as a job; its findings open in the gallery with the suggested class.
    await page.getByTestId('check-button').click();
    await page.getByTestId('check-summary').waitFor({ timeout: 60_000 });
    await expect.poll(() => page.getByTestId('gallery-title').textContent(), JOB_WAIT).toMatch(/^Likely label errors/);
    const pending = Number(((await page.getByTestId('review-issues').textContent()) ?? '').replace(/\D/g, ''));
    expect(pending).toBeGreaterThan(0); // the three planted test images are there to be found
    console.log(`evaluate e2e: the label check flagged ${pending} images`);
    await expect.poll(() => page.getByTestId('gallery-count').textContent(), JOB_WAIT).toBe(`${pending} image${pending === 1 ? '' : 's'}`);
    const given = await thumbLabel(page, 0);
    const badge = ((await thumb(page, 0).getByTestId('issue-suggestion').textContent()) ?? '').replace(/^\?/, '').replace(/\d+%$/, '');
    await thumb(page, 0).click();
    await page.keyboard.press('a');
    await expect.poll(() => thumbLabel(page, 0)).toBe(badge);
    expect(await thumb(page, 0).getByTestId('model-label').count()).toBe(1);
    await expect.poll(() => page.getByTestId('review-issues').textContent()).toBe(`Review ${pending - 1}`);
    // Undo brings the label and the issue back; D then keeps the given label.
    await page.keyboard.press('Control+z');
    await expect.poll(() => page.getByTestId('review-issues').textContent()).toBe(`Review ${pending}`);
    await expect.poll(() => thumbLabel(page, 0)).toBe(given);
    await thumb(page, 0).getByTestId('issue-suggestion').waitFor();
    await thumb(page, 0).click();
    await page.keyboard.press('d');
    await expect.poll(() => page.getByTestId('review-issues').textContent()).toBe(`Review ${pending - 1}`);
    expect(await thumbLabel(page, 0)).toBe(given);
    await expect.poll(() => thumb(page, 0).getByTestId('issue-suggestion').count()).toBe(0);
    expect(problems).toEqual([]);
  }, 120_000);

  it('a score that is not raised by accepting the model’s own labels: Accept all asks first, and the view shows the score on labels no model wrote', async () => {
    const { dir, e } = await trainedProject();
    const before = `${(e.accuracy! * 100).toFixed(1)}%`;
    const { page, problems } = await openEvaluateView(dir);
    await page.getByTestId('confusion-matrix').waitFor();
    expect(await page.getByTestId('eval-accuracy').textContent()).toBe(before);
    expect(await page.getByTestId('eval-model-labels').count()).toBe(0);

    await page.getByTestId('check-button').click();
    await page.getByTestId('check-summary').waitFor({ timeout: 60_000 });
    // How far to trust the findings is said, with the data's images per class and folds.
    expect(await page.getByTestId('check-reliability').textContent()).toMatch(/Models trained without each image \(4 folds\) agree with \d+% of the \d+ training labels \(\d+–\d+ images per class\)/);
    await expect.poll(() => page.getByTestId('gallery-title').textContent(), JOB_WAIT).toMatch(/^Likely label errors/);
    const pending = Number(((await page.getByTestId('review-issues').textContent()) ?? '').replace(/\D/g, ''));

    // Accept all asks first, per split, and leaves validation and test out unless ticked.
    await page.getByTestId('issue-more').click();
    await page.getByTestId('issue-accept-all').click();
    await page.getByTestId('bulk-accept').waitFor();
    const text = (await page.getByTestId('bulk-accept').textContent()) ?? '';
    const [, train, val, test] = /(\d+) train\. The (\d+) validation and (\d+) test are left out/.exec(text) ?? [];
    expect(Number(test), text).toBeGreaterThan(0); // the planted test images
    expect(Number(train) + Number(val) + Number(test)).toBe(pending);
    expect(await page.getByTestId('bulk-count').textContent()).toBe(train);
    // Nothing changed yet.
    expect(await page.getByTestId('review-issues').textContent()).toBe(`Review ${pending}`);
    await page.getByTestId('bulk-include-held-out').check();
    expect(await page.getByTestId('bulk-count').textContent()).toBe(String(pending));
    expect(await page.getByTestId('bulk-summary').textContent()).toMatch(new RegExp(`${train} train, ${val} validation and ${test} test\\.`));
    await page.getByTestId('bulk-confirm').click();
    await expect.poll(() => page.getByTestId('review-issues').textContent()).toBe('Review 0');

    // The test labels the model wrote would raise its score; the view says so and shows the
    // score on labels no model wrote, the one from before.
    await page.getByTestId('eval-model-labels').waitFor();
    expect(await page.getByTestId('eval-model-labels').textContent()).toMatch(new RegExp(`${test} of these ${e.images} labels were written by a model \\(${test} since this run trained\\)`));
    expect(await page.getByTestId('eval-independent-accuracy').textContent()).toBe(before);
    expect(Number.parseFloat((await page.getByTestId('eval-accuracy').textContent()) ?? '')).toBeGreaterThan(Number.parseFloat(before));
    // The thumbnails mark the labels a model wrote.
    await page.getByTestId('issues-back').click();
    await page.getByTestId('mode-all').click();
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe(`${e.images} images`);
    await expect.poll(() => page.locator('[data-testid=cell] [data-testid=model-label]').count()).toBe(Number(test));
    expect(problems).toEqual([]);
  }, 120_000);

  it('keeps the gallery toolbar on one line at 1024x700 while label errors are listed', async () => {
    const { dir } = await trainedProject();
    const { page, problems } = await openEvaluateView(dir);
    await page.setViewportSize({ width: 1024, height: 700 });
    await page.getByTestId('confusion-matrix').waitFor();
    await page.getByTestId('check-button').click();
    await page.getByTestId('check-summary').waitFor({ timeout: 60_000 });
    await expect.poll(() => page.getByTestId('gallery-title').textContent(), JOB_WAIT).toMatch(/^Likely label errors/);
    const pending = Number(((await page.getByTestId('review-issues').textContent()) ?? '').replace(/\D/g, ''));
    expect(pending).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId('gallery-count').textContent(), JOB_WAIT).toBe(`${pending} image${pending === 1 ? '' : 's'}`);

    const toolbar = page.getByTestId('evaluate-toolbar');
    const layout = () => toolbarLayout(toolbar);
    const reviewing = await layout();
    expect(reviewing).toMatchObject({ oneLine: true, inside: true });
    expect(reviewing.height).toBeLessThan(60);
    // Every label-error action is there: Accept and Dismiss on the bar, the bulk ones in its menu.
    await toolbar.getByTestId('issue-accept').waitFor();
    await toolbar.getByTestId('issue-dismiss').waitFor();
    await toolbar.getByTestId('issue-more').click();
    await page.getByRole('menuitem', { name: `Accept all ${pending}…` }).waitFor();
    await page.getByRole('menuitem', { name: 'Dismiss all' }).waitFor();
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByRole('menu').count()).toBe(0);
    // Undo, redo and the size slider draw as icons (SVG), not as glyphs of a font.
    for (const name of ['Undo', 'Redo']) expect(await toolbar.getByRole('button', { name }).locator('svg').count()).toBe(1);
    expect(await toolbar.locator('.size svg').count()).toBe(1);
    expect(((await toolbar.textContent()) ?? '').match(/[↶↷▦]/u)).toBeNull();
    // Back to the model's mistakes: the same one line.
    await page.getByTestId('issues-back').click();
    await expect.poll(() => page.getByTestId('gallery-title').textContent()).toMatch(/^Top losses/);
    const browsing = await layout();
    expect(browsing).toMatchObject({ oneLine: true, inside: true });
    expect(browsing.height).toBeCloseTo(reviewing.height, 0); // the bar does not jump
    expect(problems).toEqual([]);
  }, 120_000);

  it('shows a label another tab changed while the connection was down once it is back', async () => {
    const { dir, t, p, pIndex, names } = await trainedProject();
    const { page: other, problems, server } = await openEvaluateView(dir);
    // A second tab of the same browser, whose connection the test drops and holds down.
    const page = await other.context().newPage();
    page.setDefaultTimeout(10_000);
    await watchSockets(page);
    const dropped: string[] = [];
    page.on('console', (msg) => void (msg.type() === 'error' && dropped.push(msg.text())));
    page.on('pageerror', (err) => dropped.push(err.message));
    await page.goto(`${server.origin}/`);
    await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Evaluate' }).click();
    const images = (n: number) => `${n} image${n === 1 ? '' : 's'}`;
    for (const tab of [other, page]) {
      await cellOf(tab, t, p).click();
      await expect.poll(() => tab.getByTestId('gallery-count').textContent()).toBe(images(names.length));
    }

    // Down: the other tab relabels one of the cell's images as the predicted class.
    await dropConnection(page);
    await thumb(other, 0).click();
    await other.keyboard.press(String(pIndex + 1));
    await expect.poll(() => countOf(other, t, p), JOB_WAIT).toBe(names.length - 1);
    expect(await page.getByTestId('gallery-count').textContent()).toBe(images(names.length)); // no event reached it

    // Back up: the cell's images, the matrix and the undo state are the project's again.
    await reconnect(page);
    await expect.poll(() => page.getByTestId('gallery-count').textContent(), JOB_WAIT).toBe(images(names.length - 1));
    await expect.poll(() => countOf(page, t, p), JOB_WAIT).toBe(names.length - 1);
    await expect.poll(() => page.getByRole('button', { name: 'Undo' }).getAttribute('title'), JOB_WAIT).toBe(`Undo: Label 1 image as “${p}”`);
    expect(problems).toEqual([]);
    expect(dropped).toEqual([]);
  }, 120_000);

  it('says why a run with no validation or test images has nothing to score', async () => {
    // Two images per class: all of them train.
    const dir = path.join(tempDir(), 'tiny.loupe');
    const src = await folder({ 'red/1.png': 1, 'red/2.png': 2, 'blue/3.png': 3, 'blue/4.png': 4 });
    for (const args of [['create', dir], ['import', dir, src]]) expect(spawnSync(process.execPath, [cliPath, ...args]).status).toBe(0);
    train(dir, ['--arch', 'mlp', '--size', '8', '--epochs', '2']);
    const { page, problems } = await openEvaluateView(dir);
    await page.getByTestId('eval-empty').waitFor();
    expect(await page.getByTestId('eval-empty').textContent()).toMatch(/No validation image of this run can be scored: the split was empty when it trained/);
    expect(await page.getByTestId('eval-accuracy').textContent()).toBe('–');
    // No table, matrix or chart of zeros.
    expect(await page.getByTestId('per-class').count()).toBe(0);
    expect(await page.getByTestId('confusion-matrix').count()).toBe(0);
    expect(problems).toEqual([]);
  });
});
