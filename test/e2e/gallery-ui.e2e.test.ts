// What a newcomer meets first in the Label view (browser mode, Chromium): labeling a selection
// through "Label as…", selected and focused tiles told apart, the viewer fitting a tiny image,
// undo saying what it undid, a toolbar that stays one line at 1024 px, light and dark themes that
// follow the system, keyboard access to the grid, and icons that need no emoji font.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { makeEvalProject } from '../services/evaluation/evaluation-helpers';
import { makeFixtureProject } from '../fixtures';
import { cliPath, tempDir } from '../helpers';
import { hasChromium, launch, newPage, serve, toolbarLayout } from './harness';

const cell = (page: Page, index: number) => page.locator(`[data-testid=cell][data-index="${index}"]`);
const cellLabel = async (page: Page, index: number) => {
  const label = cell(page, index).getByTestId('cell-label');
  return (await label.count()) ? (await label.textContent())?.trim() : null;
};
const classCount = (page: Page, name: string) =>
  page.getByTestId('class-list').locator('li', { hasText: name }).getByTestId('class-count').textContent();
const toastText = (page: Page) => page.getByTestId('toast-text').last().textContent();

async function open(dir: string, viewport = { width: 1280, height: 800 }) {
  const server = await serve(['--project', dir]);
  const browser = await launch();
  const { page, problems } = await newPage(browser);
  await page.setViewportSize(viewport);
  await page.goto(server.openUrl);
  await cell(page, 0).locator('img').waitFor();
  return { page, problems };
}

/** 40 unlabeled 32 px images, classes cat and dog. */
async function unlabeledProject(name: string) {
  const dir = path.join(tempDir(), `${name}.loupe`);
  await makeFixtureProject(dir, { count: 40, classes: ['cat', 'dog'] });
  return dir;
}

describe.runIf(hasChromium)('gallery for a newcomer (Chromium, browser mode)', () => {
  it('labels a selection through "Label as…", and draws selected and focused tiles differently', async () => {
    const { page, problems } = await open(await unlabeledProject('label-as'));

    await cell(page, 2).click();
    await cell(page, 5).click({ modifiers: ['Shift'] });
    await expect.poll(() => page.getByTestId('selection-count').textContent()).toBe('4 selected');

    // Selected: tinted, accent border, a check mark. Focused: a ring outside. Cell 5 is both.
    const look = (i: number) =>
      cell(page, i).evaluate((el) => {
        const s = getComputedStyle(el);
        return { outline: s.outlineStyle, check: el.querySelector('[data-testid=selected-mark]') !== null, border: s.borderTopColor };
      });
    const selected = await look(3);
    const focused = await look(5);
    const plain = await look(0);
    expect(selected).toMatchObject({ outline: 'none', check: true });
    expect(focused).toMatchObject({ outline: 'solid', check: true });
    expect(plain).toMatchObject({ outline: 'none', check: false });
    expect(selected.border).not.toBe(plain.border);
    await cell(page, 8).click(); // a plain click: focus without selection
    await expect.poll(() => look(8)).toMatchObject({ outline: 'solid', check: false });

    // "Label as…" lists the classes with their keys and labels every selected image.
    await cell(page, 10).click();
    await cell(page, 13).click({ modifiers: ['Shift'] });
    await page.getByTestId('label-as').click();
    const menu = page.getByRole('menu', { name: 'Label as' });
    expect((await menu.getByRole('menuitem').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim())).toEqual([
      'cat 1',
      'dog 2',
      'Remove label 0',
      'Other class… /',
    ]);
    await menu.getByRole('menuitem', { name: /dog/ }).click();
    for (const i of [10, 11, 12, 13]) await expect.poll(() => cellLabel(page, i)).toBe('dog');
    await expect.poll(() => classCount(page, 'dog')).toBe('4');
    expect(await cellLabel(page, 14)).toBeNull();

    // From the keyboard: the menu's number keys pick a class (not the gallery's key for the focused image).
    await cell(page, 20).click();
    await cell(page, 21).click({ modifiers: ['Shift'] });
    await page.getByTestId('label-as').click();
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('role'))).toBe('menuitem');
    await page.keyboard.press('1');
    await expect.poll(() => cellLabel(page, 20)).toBe('cat');
    await expect.poll(() => cellLabel(page, 21)).toBe('cat');
    expect(await page.getByRole('menu').count()).toBe(0);

    // Undoable, and undo says what it undid.
    await page.keyboard.press('Control+z');
    await expect.poll(() => toastText(page)).toBe('Undid: label 2 images as “cat”');
    await expect.poll(() => cellLabel(page, 20)).toBeNull();
    expect(problems).toEqual([]);
  });

  it('undo in the Unlabeled view says what it undid, keeps the tiles labeled there, and the counts agree', async () => {
    const dir = path.join(tempDir(), 'undo.loupe');
    await makeFixtureProject(dir, { count: 50, classes: ['cat', 'dog'], label: (i) => (i < 10 ? 'cat' : undefined) });
    const { page, problems } = await open(dir);
    await page.getByTestId('filter-unlabeled').click();
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe('40 images');
    await expect.poll(() => cellLabel(page, 0)).toBeNull();

    for (let i = 0; i < 19; i++) {
      await page.keyboard.press('1');
      await expect.poll(() => cellLabel(page, i)).toBe('cat');
    }
    await page.keyboard.press('2');
    await expect.poll(() => cellLabel(page, 19)).toBe('dog');
    // The toolbar counts what the filter matches, as the sidebar does; the labeled tiles stay, said apart.
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe('20');
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe('20 images');
    expect(await page.getByTestId('stale-count').textContent()).toBe('+20 labeled');
    await expect.poll(() => classCount(page, 'cat')).toBe('29');

    await page.keyboard.press('Control+z');
    await expect.poll(() => toastText(page)).toBe('Undid: label 1 image as “dog”');
    await expect.poll(() => cellLabel(page, 19)).toBeNull();
    // Nothing else vanished: the 19 cats are where they were.
    expect(await page.locator('[data-testid=cell]').count()).toBe(40);
    for (let i = 0; i < 19; i++) expect(await cellLabel(page, i)).toBe('cat');
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe('21');
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe('21 images');

    // The toast's Redo redoes it, and says so.
    await page.getByRole('button', { name: 'Redo', exact: true }).last().click();
    await expect.poll(() => toastText(page)).toBe('Redid: label 1 image as “dog”');
    await expect.poll(() => cellLabel(page, 19)).toBe('dog');
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe('20 images');
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe('20');

    // Refresh (or the "+20 labeled" note) hides what no longer matches.
    await page.getByTestId('stale-count').click();
    await expect.poll(() => page.locator('[data-testid=cell]').count()).toBe(20);
    expect(await page.getByTestId('stale-count').count()).toBe(0);
    expect(problems).toEqual([]);
  });

  it('labels the next image for each key typed before the images arrived, and shows every label once they do', async () => {
    // Hold the core's answers to imagesById, so the keys come before the items they label.
    const dir = path.join(tempDir(), 'early-keys.loupe');
    await makeFixtureProject(dir, { count: 30, classes: ['cat', 'dog'], label: (i) => (i < 5 ? 'cat' : undefined) });
    const server = await serve(['--project', dir]);
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    let holding = false;
    const held: (() => void)[] = [];
    await page.routeWebSocket(/\/api$/, (ws) => {
      const core = ws.connectToServer();
      const methods = new Map<number, string>();
      ws.onMessage((message) => {
        const call = JSON.parse(String(message)) as { id: number; method: string };
        methods.set(call.id, call.method);
        core.send(message);
      });
      core.onMessage((message) => {
        const reply = JSON.parse(String(message)) as { type: string; id?: number };
        const deliver = () => ws.send(message);
        // Once one answer is held, everything after it waits too: the socket keeps its order.
        if (held.length > 0 || (holding && reply.type === 'result' && methods.get(reply.id!) === 'imagesById')) held.push(deliver);
        else deliver();
      });
    });
    await page.goto(server.openUrl);
    await cell(page, 0).locator('img').waitFor();

    holding = true;
    await page.getByTestId('filter-unlabeled').click();
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe('25 images');
    await expect.poll(() => held.length).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) await page.keyboard.press('1');
    await page.keyboard.press('2');
    holding = false;
    for (const deliver of held.splice(0)) deliver();

    for (const i of [0, 1, 2]) await expect.poll(() => cellLabel(page, i)).toBe('cat');
    await expect.poll(() => cellLabel(page, 3)).toBe('dog');
    expect(await cellLabel(page, 4)).toBeNull();
    // And the core agrees: four labeled, each once.
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe('21');
    await expect.poll(() => classCount(page, 'cat')).toBe('8');
    await expect.poll(() => classCount(page, 'dog')).toBe('1');
    expect(problems).toEqual([]);
  });

  it('fits a 32 px image in the viewer, crisp and within the window, under an opaque header', async () => {
    const { page, problems } = await open(await unlabeledProject('viewer'), { width: 1024, height: 700 });
    for (const viewport of [
      { width: 1024, height: 700 },
      { width: 1440, height: 900 },
    ]) {
      await page.setViewportSize(viewport);
      await cell(page, 3).click();
      await page.keyboard.press('Space');
      const image = page.getByTestId('viewer-image');
      await image.waitFor();
      await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(32);
      const box = (await image.boundingBox())!;
      const header = (await page.getByTestId('viewer').locator('header').boundingBox())!;
      const footer = (await page.getByTestId('viewer').locator('footer').boundingBox())!;
      // Inside the stage between header and footer, square, and no more than 16 times upscaled.
      expect(box.y).toBeGreaterThanOrEqual(header.y + header.height);
      expect(box.y + box.height).toBeLessThanOrEqual(footer.y + 0.5);
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(viewport.width);
      expect(box.width).toBeCloseTo(box.height, 0);
      expect(box.width).toBeLessThanOrEqual(32 * 16 + 0.5);
      expect(box.width).toBeGreaterThanOrEqual(256);
      expect(await image.evaluate((img) => getComputedStyle(img).imageRendering)).toBe('pixelated');
      // The header is opaque: nothing of the grid shows through it.
      const alpha = await page.getByTestId('viewer').locator('header').evaluate((el) => {
        const m = /rgba?\(([^)]+)\)/.exec(getComputedStyle(el).backgroundColor);
        const parts = m ? m[1].split(/[\s,/]+/).filter(Boolean) : [];
        return parts.length === 4 ? Number(parts[3]) : parts.length === 3 ? 1 : 0;
      });
      expect(alpha).toBe(1);
      await page.keyboard.press('Escape');
      await expect.poll(() => page.getByTestId('viewer').count()).toBe(0);
    }
    expect(problems).toEqual([]);
  });

  it('keeps the toolbar on one line at 1024x700, with a selection and without', async () => {
    const { page, problems } = await open(await unlabeledProject('toolbar'), { width: 1024, height: 700 });
    const toolbar = page.getByTestId('label-toolbar');
    const layout = () => toolbarLayout(toolbar);
    const plain = await layout();
    expect(plain).toMatchObject({ oneLine: true, inside: true });
    expect(plain.height).toBeLessThan(60);

    await cell(page, 1).click();
    await cell(page, 6).click({ modifiers: ['Shift'] });
    await page.getByTestId('selection-count').waitFor();
    const selecting = await layout();
    expect(selecting).toMatchObject({ oneLine: true, inside: true });
    expect(selecting.height).toBe(plain.height);
    // The bar offers every action on the selection.
    for (const name of ['Label as…', 'Remove', 'Clear']) await toolbar.getByRole('button', { name }).waitFor();
    await toolbar.getByLabel('Move selection to split').waitFor();
    expect(problems).toEqual([]);
  });

  it('follows the system theme live, and the switch overrides it', async () => {
    const { page, problems } = await open(await unlabeledProject('theme'));
    const background = () => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    const text = () => page.evaluate(() => getComputedStyle(document.documentElement).color);

    await page.emulateMedia({ colorScheme: 'dark' });
    await expect.poll(background).toBe('rgb(17, 19, 23)');
    const darkText = await text();
    await page.emulateMedia({ colorScheme: 'light' });
    await expect.poll(background).toBe('rgb(245, 246, 248)');
    expect(await text()).not.toBe(darkText);

    // Pinned to dark while the system is light; kept across a reload; System follows again.
    const theme = page.getByRole('radiogroup', { name: 'Theme' });
    await theme.getByRole('radio', { name: 'Dark theme' }).click();
    await expect.poll(background).toBe('rgb(17, 19, 23)');
    await page.reload();
    await cell(page, 0).locator('img').waitFor();
    await expect.poll(background).toBe('rgb(17, 19, 23)');
    expect(await theme.getByRole('radio', { name: 'Dark theme' }).getAttribute('aria-checked')).toBe('true');
    await theme.getByRole('radio', { name: 'System theme' }).click();
    await expect.poll(background).toBe('rgb(245, 246, 248)');
    await page.emulateMedia({ colorScheme: 'dark' });
    await expect.poll(background).toBe('rgb(17, 19, 23)');
    // Pinned to light while the system is dark.
    await theme.getByRole('radio', { name: 'Light theme' }).click();
    await expect.poll(background).toBe('rgb(245, 246, 248)');
    expect(problems).toEqual([]);
  });

  it('is an ARIA grid reached by a skip link in one Tab, with arrow keys moving focus and short Tab order', async () => {
    const dir = path.join(tempDir(), 'a11y.loupe');
    await makeFixtureProject(dir, { count: 60, classes: ['cat', 'dog', 'ship', 'truck'], label: (i) => (i < 40 ? ['cat', 'dog', 'ship', 'truck'][i % 4] : undefined) });
    const { page, problems } = await open(dir);
    const grid = page.getByRole('grid', { name: 'Images' });
    await grid.waitFor();
    expect(await grid.getByRole('row').count()).toBeGreaterThan(1);
    expect(await grid.getByRole('row').first().getByRole('gridcell').count()).toBeGreaterThan(1);
    // Roving tabindex: one cell of the grid is in the Tab order.
    expect(await grid.locator('[role=gridcell][tabindex="0"]').count()).toBe(1);

    const active = () =>
      page.evaluate(() => {
        const el = document.activeElement as HTMLElement;
        return { role: el.getAttribute('role'), index: el.dataset.index ?? null, text: el.textContent?.trim() ?? '' };
      });
    // The first Tab stop is the skip link; it lands on the grid's focused cell.
    await page.keyboard.press('Tab');
    expect(await active()).toMatchObject({ text: 'Skip to images' });
    await page.keyboard.press('Enter');
    await expect.poll(active).toMatchObject({ role: 'gridcell', index: '0' });

    // Arrow keys move the keyboard focus (not only the highlight).
    const columns = Number(await grid.getAttribute('aria-colcount'));
    await page.keyboard.press('ArrowRight');
    await expect.poll(active).toMatchObject({ role: 'gridcell', index: '1' });
    await page.keyboard.press('ArrowDown');
    await expect.poll(active).toMatchObject({ role: 'gridcell', index: String(1 + columns) });
    // Tab leaves the grid in one step.
    await page.keyboard.press('Tab');
    expect((await active()).role).not.toBe('gridcell');

    // Without the skip link, the grid is still a short walk: the class list is one stop.
    await page.reload();
    await grid.waitFor();
    let stops = 0;
    while ((await active()).role !== 'gridcell' && stops < 60) {
      await page.keyboard.press('Tab');
      stops++;
    }
    expect((await active()).role).toBe('gridcell');
    console.log(`[figures] Tab stops from the top of the page to the grid without the skip link: ${stops}`);
    expect(stops).toBeLessThanOrEqual(22);
    // The views are one Tab stop together (the current one); arrow keys move between them.
    const views = page.getByRole('navigation', { name: 'Views' }).getByRole('button');
    expect(await views.evaluateAll((buttons) => buttons.filter((b) => (b as HTMLElement).tabIndex === 0).map((b) => b.textContent?.trim()))).toEqual(['Label']);
    await views.filter({ hasText: 'Label' }).focus();
    await page.keyboard.press('ArrowRight');
    expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe('Overview');
    await page.keyboard.press('End');
    expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe('Predict');

    // In the class list, arrows move between classes and into a class's tools.
    const classList = page.getByTestId('class-list');
    await classList.getByTestId('class-filter').first().focus();
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent?.replace(/\s+/g, ' ').trim())).toMatch(/^2 dog/);
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Rename dog');
    expect(await cell(page, 0).getAttribute('class')).toMatch(/focused/); // the gallery's focus did not move

    // No icon is an emoji (they draw as empty boxes where no emoji font is installed).
    const pictographs = await page.evaluate(() => document.body.innerText.match(/\p{Extended_Pictographic}/gu) ?? []);
    expect(pictographs).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('draws every tick of the confidence chart inside it (the 100% was clipped)', { timeout: 120_000 }, async () => {
    const dir = path.join(tempDir(), 'chart.loupe');
    await makeEvalProject(dir, { look: 'colors', perClass: 20 });
    const trained = spawnSync(process.execPath, [cliPath, 'train', dir, '--arch', 'mlp', '--size', '8', '--epochs', '2', '--seed', '1', '--json'], {
      encoding: 'utf8',
    });
    expect(trained.status, trained.stderr).toBe(0);
    const { page, problems } = await open(dir);
    await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Evaluate' }).click();
    const chart = page.getByTestId('confidence');
    await chart.waitFor();
    const outside = await chart.evaluate((section) =>
      Array.from(section.querySelectorAll('svg')).flatMap((svg) => {
        const view = svg.viewBox.baseVal;
        return Array.from(svg.querySelectorAll('text'))
          .map((t) => ({ text: t.textContent, box: t.getBBox() }))
          .filter(({ box }) => box.x < view.x - 0.5 || box.y < view.y - 0.5 || box.x + box.width > view.x + view.width + 0.5 || box.y + box.height > view.y + view.height + 0.5)
          .map(({ text }) => text);
      }),
    );
    expect(outside).toEqual([]);
    expect(await chart.locator('text', { hasText: '100%' }).count()).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
