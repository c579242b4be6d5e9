// The keyboard labeling flow in the real UI (browser mode, Chromium).

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { makeFixtureProject } from '../fixtures';
import { cliPath, tempDir } from '../helpers';
import { hasChromium, launch, newPage, serve } from './harness';

const HOSTILE = '<img src=x onerror=alert(1)>';

const cell = (page: Page, index: number) => page.locator(`[data-testid=cell][data-index="${index}"]`);
const cellLabel = async (page: Page, index: number) => {
  const label = cell(page, index).getByTestId('cell-label');
  return (await label.count()) ? (await label.textContent())?.trim() : null;
};
const status = (dir: string) => JSON.parse(spawnSync(process.execPath, [cliPath, 'status', dir, '--json'], { encoding: 'utf8' }).stdout);
const classCount = (page: Page, name: string) =>
  page.getByTestId('class-list').locator('li', { hasText: name }).getByTestId('class-count').textContent();

async function open(dir: string) {
  const server = await serve(['--project', dir]);
  const browser = await launch();
  const { page, problems } = await newPage(browser);
  await page.goto(server.openUrl);
  await cell(page, 0).locator('img').waitFor();
  return { server, page, problems, browser };
}

describe.runIf(hasChromium)('labeling view (Chromium, browser mode)', () => {
  it('labels at keyboard speed, in bulk, and undoes, with every change on disk', async () => {
    const dir = path.join(tempDir(), 'keys.loupe');
    await makeFixtureProject(dir, { count: 40, classes: ['cat', 'dog', HOSTILE], name: (i) => (i === 3 ? `${HOSTILE}.png` : `img_${i}.png`) });
    const { page, problems, server } = await open(dir);

    // 1 labels the focused image and moves focus to the next unlabeled one.
    await page.keyboard.press('1');
    await expect.poll(() => cellLabel(page, 0)).toBe('cat');
    await page.keyboard.press('2');
    await expect.poll(() => cellLabel(page, 1)).toBe('dog');
    await page.keyboard.press('ArrowRight'); // skip image 2
    await page.keyboard.press('3');
    await expect.poll(() => cellLabel(page, 3)).toBe(HOSTILE);
    // Hostile names are text: no element was created from them.
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(await page.locator('img').evaluateAll((imgs, alt) => imgs.some((i) => i.getAttribute('alt') === alt), `${HOSTILE}.png`)).toBe(true);
    await expect.poll(() => classCount(page, 'cat')).toBe('1');
    // 0 removes a label.
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('0');
    await expect.poll(() => cellLabel(page, 1)).toBeNull();
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe('38');

    // Shift-click a range, ctrl-click one more, label them all with one key.
    await cell(page, 10).click();
    await cell(page, 14).click({ modifiers: ['Shift'] });
    await cell(page, 20).click({ modifiers: ['Control'] });
    expect(await page.getByTestId('selection-count').textContent()).toBe('6 selected');
    await page.keyboard.press('2');
    for (const i of [10, 11, 12, 13, 14, 20]) await expect.poll(() => cellLabel(page, i)).toBe('dog');
    await expect.poll(() => classCount(page, 'dog')).toBe('6');

    // Select all of a filter and label it.
    await page.getByTestId('filter-unlabeled').click();
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe('32 images');
    await page.keyboard.press('Control+a');
    await page.keyboard.press('1');
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe('0');

    // Undo and redo, from the keyboard.
    await page.keyboard.press('Control+z');
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe('32');
    await page.keyboard.press('Control+Shift+z');
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe('0');
    await page.keyboard.press('Control+z');
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe('32');

    // The large view: same keys, arrows step, Escape closes.
    await page.getByRole('button', { name: /^All images/ }).click();
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe('40 images');
    await cell(page, 5).click();
    await page.keyboard.press('Space');
    await page.getByTestId('viewer').waitFor();
    await page.keyboard.press('3');
    await expect.poll(() => cellLabel(page, 5)).toBe(HOSTILE);
    await expect.poll(() => page.getByTestId('viewer-label').textContent()).toMatch(/unlabeled/); // moved on to image 6
    await page.keyboard.press('Escape');
    expect(await page.getByTestId('viewer').count()).toBe(0);

    // The palette labels with any class, searchable.
    await cell(page, 7).click();
    await page.keyboard.press('/');
    await page.getByLabel('Search classes').fill('do');
    await page.keyboard.press('Enter');
    await expect.poll(() => cellLabel(page, 7)).toBe('dog');

    // Everything acknowledged is on disk: kill the studio hard and read the project.
    expect(problems).toEqual([]);
    await page.close();
    server.proc.kill('SIGKILL');
    await new Promise((resolve) => server.proc.once('exit', resolve));
    const saved = status(dir);
    expect(saved.labeled).toBe(10);
    expect(saved.classes).toEqual([
      { name: 'cat', count: 1 },
      { name: 'dog', count: 7 },
      { name: HOSTILE, count: 2 },
    ]);

    // Undo survives a restart of the whole studio.
    const again = await open(dir);
    await expect.poll(() => again.page.getByRole('button', { name: 'Undo' }).getAttribute('title')).toBe('Undo: Label 1 image as “dog”');
    await again.page.keyboard.press('Control+z');
    await expect.poll(() => cellLabel(again.page, 7)).toBeNull();

    expect(again.problems).toEqual([]);
  });

  it('manages classes: add, rename, recolor, reorder, merge and delete', async () => {
    const dir = path.join(tempDir(), 'classes.loupe');
    await makeFixtureProject(dir, { count: 12, classes: ['a', 'b'], label: (i) => (i < 4 ? 'a' : i < 8 ? 'b' : undefined) });
    const { page, problems } = await open(dir);
    const names = () => page.getByTestId('class-filter').locator('.name').allTextContents();

    await page.getByLabel('New class name').fill(HOSTILE);
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await expect.poll(names).toEqual(['a', 'b', HOSTILE]);

    await page.getByTestId('class-list').locator('li', { hasText: 'b' }).first().hover();
    await page.getByRole('button', { name: 'Rename b' }).click();
    await page.getByLabel('Class name', { exact: true }).fill('bee');
    await page.keyboard.press('Enter');
    await expect.poll(names).toEqual(['a', 'bee', HOSTILE]);

    await page.getByTestId('class-list').locator('li', { hasText: 'bee' }).hover();
    await page.getByRole('button', { name: 'Move bee up' }).click();
    await expect.poll(names).toEqual(['bee', 'a', HOSTILE]);
    // Key 1 now means "bee".
    await cell(page, 9).click();
    await page.keyboard.press('1');
    await expect.poll(() => cellLabel(page, 9)).toBe('bee');

    await page.getByTestId('class-list').locator('li', { hasText: 'a' }).first().hover();
    await page.getByRole('button', { name: 'Merge a into another class' }).click();
    await page.getByLabel('Merge into').selectOption({ label: 'bee (5)' });
    await page.getByRole('button', { name: 'Merge', exact: true }).click();
    await expect.poll(names).toEqual(['bee', HOSTILE]);
    await expect.poll(() => classCount(page, 'bee')).toBe('9');

    await page.getByTestId('class-list').locator('li', { hasText: 'bee' }).hover();
    await page.getByRole('button', { name: 'Delete bee' }).click();
    await expect.poll(() => page.getByRole('dialog', { name: 'Delete class' }).textContent()).toMatch(/9 images will become unlabeled/);
    await page.getByRole('button', { name: 'Delete class' }).click();
    await expect.poll(names).toEqual([HOSTILE]);
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe('12');
    await page.keyboard.press('Control+z');
    await expect.poll(names).toEqual(['bee', HOSTILE]);
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe('3');
    expect(problems).toEqual([]);
  });
});
