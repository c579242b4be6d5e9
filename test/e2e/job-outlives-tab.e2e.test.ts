// The job that outlives its tab (browser mode, Chromium): a training started from a page goes on
// when that page closes; reopening the URL in the same browser comes back to the project with the
// training shown live (progress, time left, curves, Cancel), and another browser finds it from
// the start screen. Only the user's Cancel stops it; a run whose tab closed completes.

import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { makeFixtureProject } from '../fixtures';
import { tempDir } from '../helpers';
import { hasChromium, JOB_WAIT, launch, newPage, serve, dropConnection, reconnect, watchSockets, type Watched } from './harness';

const CLASSES = ['cat', 'dog', 'bird'];
const points = (page: Page, series: string) => page.locator(`[data-testid="${series}"] circle`).count();
const cell = (page: Page, index: number) => page.locator(`[data-testid=cell][data-index="${index}"]`);
const cellLabel = async (page: Page, index: number) => {
  const label = cell(page, index).getByTestId('cell-label');
  return (await label.count()) ? (await label.textContent())?.trim() : null;
};
const classCount = (page: Page, name: string) => page.getByTestId('class-list').locator('li', { hasText: name }).getByTestId('class-count').textContent();
const statusOf = (page: Page, runId: string) => page.locator(`[data-testid="run-row"][data-run-id="${runId}"] [data-testid="run-status"]`).textContent();

/** A server with no project of its own (so nothing but the job keeps the project open), and a page on its Train view. */
async function trainViewWithoutHolder() {
  const dir = path.join(tempDir(), 'outlives.loupe');
  await makeFixtureProject(dir, { count: 300, classes: CLASSES, label: (i) => CLASSES[i % 3] });
  const server = await serve();
  const browser = await launch();
  const { page, problems } = await newPage(browser);
  await page.goto(server.openUrl); // trades the token for the cookie
  await page.getByRole('heading', { name: 'New project' }).waitFor();
  await page.goto(`${server.origin}/#/p/${encodeURIComponent(dir)}/train`);
  await page.getByTestId('train-plan').getByRole('list').waitFor(JOB_WAIT);
  return { dir, server, browser, page, problems, context: page.context() };
}

/** Sets a run of `epochs` epochs at 64 px without early stopping (about 1 s an epoch here). */
async function planRun(page: Page, epochs: number) {
  const advanced = page.getByTestId('train-advanced');
  if ((await advanced.getAttribute('open')) === null) await advanced.locator('summary').click();
  await page.getByLabel('Architecture').selectOption('mlp');
  await page.getByLabel('Input width').fill('64');
  await page.getByLabel('Epochs', { exact: true }).fill(String(epochs));
  await page.getByLabel('Stop early').uncheck();
  await expect.poll(() => page.getByTestId('config-epochs').textContent(), JOB_WAIT).toBe(String(epochs));
  await expect.poll(() => page.getByTestId('config-stopping').textContent()).toMatch(/^\s*off/);
  await expect.poll(() => page.getByTestId('train-button').isEnabled(), JOB_WAIT).toBe(true);
}

/** Starts the run and waits until it is live (one epoch done); returns its run id. */
async function startRun(page: Page): Promise<string> {
  await page.getByTestId('train-button').click();
  await expect.poll(() => points(page, 'curve-loss-train'), JOB_WAIT).toBeGreaterThanOrEqual(1);
  const row = page.getByTestId('run-row').first();
  await expect.poll(() => row.getByTestId('run-status').textContent(), JOB_WAIT).toBe('running');
  return (await row.getAttribute('data-run-id'))!;
}

/** A new tab of the same browser (cookie and storage kept) on the bare URL. */
async function reopen(context: BrowserContext, origin: string) {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  await watchSockets(page);
  const problems: string[] = [];
  page.on('console', (msg) => void (msg.type() === 'error' && problems.push(msg.text())));
  page.on('pageerror', (err) => problems.push(err.message));
  await page.goto(`${origin}/`);
  return { page, problems };
}

describe.runIf(hasChromium)('a job outlives its tab (Chromium, browser mode)', () => {
  it('keeps training after the tab closes; the reopened URL shows it live, and only its Cancel stops it', async () => {
    const { server, browser, page, problems, context } = await trainViewWithoutHolder();
    // Many minutes here: far longer than the test, even on a fast machine.
    await planRun(page, 1000);
    const runId = await startRun(page);
    await page.close();

    // Another browser (no remembered place) finds the running training from the start screen.
    const other = await newPage(browser);
    await other.page.goto(server.openUrl);
    const running = other.page.getByTestId('running-job');
    await expect.poll(() => running.textContent(), JOB_WAIT).toMatch(/Training running in\s+outlives/);

    // The same browser, a new tab on the bare URL: back in the project, on the Train view, live.
    const back = await reopen(context, server.origin);
    await expect.poll(() => back.page.getByTestId('project-name').textContent()).toBe('outlives');
    await back.page.getByTestId('train-progress').waitFor(JOB_WAIT);
    await expect.poll(() => back.page.getByTestId('train-phase').textContent(), JOB_WAIT).toMatch(/^Epoch \d+\/1000$/);
    await expect.poll(() => back.page.getByTestId('train-eta').textContent(), JOB_WAIT).toMatch(/left$/);
    expect(await back.page.getByTestId('live-run').count()).toBe(1);
    // The curves so far, and new epochs still arriving.
    const before = await points(back.page, 'curve-loss-train');
    expect(before).toBeGreaterThanOrEqual(1);
    await expect.poll(() => points(back.page, 'curve-loss-train'), JOB_WAIT).toBeGreaterThan(before);
    expect(await statusOf(back.page, runId)).toBe('running');

    // The connection drops: the page says it is reconnecting, comes back by itself to the same
    // project and view, and the training goes on live.
    await back.page.evaluate(() => (window as unknown as Watched).__sockets.at(-1)!.close());
    await expect.poll(() => back.page.evaluate(() => (window as unknown as Watched).__sawReconnecting === true), JOB_WAIT).toBe(true);
    await expect.poll(() => back.page.evaluate(() => (window as unknown as Watched).__sockets.length), JOB_WAIT).toBe(2);
    await back.page.getByTestId('reconnecting').waitFor({ state: 'detached', ...JOB_WAIT });
    const afterDrop = await points(back.page, 'curve-loss-train');
    await expect.poll(() => points(back.page, 'curve-loss-train'), JOB_WAIT).toBeGreaterThan(afterDrop);
    expect(await back.page.getByTestId('project-name').textContent()).toBe('outlives');
    expect(new URL(back.page.url()).hash).toMatch(/\/train$/);
    expect(await statusOf(back.page, runId)).toBe('running');

    // Elsewhere in the project the training stays in sight.
    await back.page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Label' }).click();
    await expect.poll(() => back.page.getByTestId('training-chip').textContent(), JOB_WAIT).toMatch(/Training: Epoch \d+\/1000/);
    await back.page.getByTestId('training-chip').click();
    await back.page.getByTestId('train-cancel').click();
    await expect.poll(() => statusOf(back.page, runId), JOB_WAIT).toBe('cancelled');
    await back.page.getByTestId('train-progress').waitFor({ state: 'detached', ...JOB_WAIT });
    // The other browser's start screen sees it end.
    await expect.poll(() => running.count(), JOB_WAIT).toBe(0);
    expect(problems).toEqual([]);
    expect(back.problems).toEqual([]);
    expect(other.problems).toEqual([]);
  }, 180_000);

  it('shows a label another tab changed while the connection was down once it is back', async () => {
    const dir = path.join(tempDir(), 'dropped.loupe');
    await makeFixtureProject(dir, { count: 40, classes: ['cat', 'dog'] });
    const server = await serve(['--project', dir]);
    const browser = await launch();
    const { page: other, problems } = await newPage(browser);
    await other.goto(server.openUrl); // trades the token for the cookie
    await cell(other, 0).locator('img').waitFor();
    const { page, problems: dropped } = await reopen(other.context(), server.origin);
    await cell(page, 0).locator('img').waitFor();
    expect(await cellLabel(page, 0)).toBeNull();
    await expect.poll(() => classCount(page, 'dog')).toBe('0');

    // The connection drops and stays down while the other tab labels image 0 as dog.
    await dropConnection(page);
    await cell(other, 0).click();
    await other.keyboard.press('2');
    await expect.poll(() => cellLabel(other, 0)).toBe('dog');
    await expect.poll(() => classCount(other, 'dog')).toBe('1');
    expect(await cellLabel(page, 0)).toBeNull(); // no event reached the dropped page

    // Back up: the page reloads its list, counts and undo state, so the change shows.
    await reconnect(page);
    await expect.poll(() => cellLabel(page, 0), JOB_WAIT).toBe('dog');
    await expect.poll(() => classCount(page, 'dog'), JOB_WAIT).toBe('1');
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent(), JOB_WAIT).toBe('39');
    await expect.poll(() => page.getByRole('button', { name: 'Undo' }).getAttribute('title'), JOB_WAIT).toBe('Undo: Label 1 image as “dog”');
    expect(problems).toEqual([]);
    expect(dropped).toEqual([]);
  }, 180_000);

  it('lets a run whose tab closed complete, and shows its end in the reopened tab', async () => {
    const { server, page, problems, context } = await trainViewWithoutHolder();
    // Some seconds here; the tab closes after its first epoch.
    await planRun(page, 10);
    const runId = await startRun(page);
    await page.close();

    const back = await reopen(context, server.origin);
    await expect.poll(() => back.page.getByTestId('project-name').textContent()).toBe('outlives');
    await expect.poll(() => statusOf(back.page, runId), { timeout: 120_000 }).toBe('completed');
    // The finished run is shown, trained to its last epoch.
    await expect.poll(() => back.page.getByTestId('run-details').getAttribute('data-run-id'), JOB_WAIT).toBe(runId);
    expect(await back.page.locator(`[data-testid="run-row"][data-run-id="${runId}"] [data-testid="run-epochs"]`).textContent()).toMatch(/^10\b/);
    expect(await back.page.getByTestId('run-row').count()).toBe(1);
    expect(problems).toEqual([]);
    expect(back.problems).toEqual([]);
  }, 180_000);
});
