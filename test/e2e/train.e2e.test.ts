// The Train view in the real UI (browser mode, Chromium): the plan beside the Train button,
// Advanced overrides that re-plan, a live run with progress and curves, the run history with the
// best run marked, and cancelling a run.

import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { makeFixtureProject } from '../fixtures';
import { tempDir } from '../helpers';
import { hasChromium, JOB_WAIT, launch, newPage, serve } from './harness';

const CLASSES = ['cat', 'dog', 'bird'];
const points = (page: Page, series: string) => page.locator(`[data-testid="${series}"] circle`).count();
const text = async (page: Page, testid: string) => ((await page.getByTestId(testid).textContent()) ?? '').replace(/\s+/g, ' ').trim();

async function openTrainView(label: (i: number) => string | undefined = (i) => CLASSES[i % 3]) {
  const dir = path.join(tempDir(), 'train.loupe');
  // 300 tiny colour images, split 80/10/10.
  await makeFixtureProject(dir, { count: 300, classes: CLASSES, label });
  const server = await serve(['--project', dir]);
  const browser = await launch();
  const { page, problems } = await newPage(browser);
  await page.goto(server.openUrl);
  await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Train' }).click();
  await page.getByTestId('train-plan').locator('[data-testid=plan-headline], [data-testid=plan-blocker]').first().waitFor();
  return { page, problems };
}

/** Sets a small, fast run in Advanced settings and waits for the plan to show it. */
async function planSmallRun(page: Page, epochs: number, width = 8) {
  const advanced = page.getByTestId('train-advanced');
  if ((await advanced.getAttribute('open')) === null) await advanced.locator('summary').click();
  await page.getByLabel('Architecture').selectOption('mlp');
  await page.getByLabel('Input width').fill(String(width));
  await page.getByLabel('Epochs', { exact: true }).fill(String(epochs));
  // A new input size is timed on this machine for the estimate, which takes a moment.
  await expect.poll(() => page.getByTestId('config-epochs').textContent(), JOB_WAIT).toBe(String(epochs));
  await expect.poll(() => page.getByTestId('config-arch').textContent()).toBe('MLP (mlp)');
  await expect.poll(() => page.getByTestId('train-button').isEnabled(), JOB_WAIT).toBe(true);
}

describe.runIf(hasChromium)('train view (Chromium, browser mode)', () => {
  it('shows the plan, trains a run live and lists it as the best run', async () => {
    const { page, problems } = await openTrainView();
    await page.getByTestId('plan-estimate').waitFor();

    // The plan for one click, with its reasons, before any setting is touched.
    expect(await text(page, 'train-plan')).toContain('240 training, 30 validation and 30 test images in 3 classes');
    expect(await page.getByTestId('config-arch').textContent()).toBe('ResNet-8 (resnet-small)');
    expect(await page.getByTestId('plan-explanation').locator('li').count()).toBeGreaterThan(3);
    expect(await page.getByTestId('plan-blocker').count()).toBe(0);
    expect(await page.getByTestId('run-history').count()).toBe(0);

    // A setting out of range is refused, and Train waits until it is fixed.
    await page.getByTestId('train-advanced').locator('summary').click();
    await page.getByLabel('Epochs', { exact: true }).fill('0');
    await expect.poll(() => text(page, 'train-why')).toBe('Some Advanced settings are out of range.');
    expect(await page.getByTestId('train-button').isDisabled()).toBe(true);

    await planSmallRun(page, 2);
    expect(await page.getByTestId('train-why').count()).toBe(0);
    // A short run may be over between two polls: note whether the progress bar was ever shown.
    await page.evaluate(() => {
      const seen = window as unknown as { sawProgress?: boolean };
      const look = () => (seen.sawProgress ||= document.querySelector('[data-testid=train-progress] progress') !== null);
      new MutationObserver(look).observe(document.body, { childList: true, subtree: true });
    });
    const started = Date.now();
    await page.getByTestId('train-button').click();
    await expect.poll(() => page.evaluate(() => (window as unknown as { sawProgress?: boolean }).sawProgress === true), JOB_WAIT).toBe(true);

    // One point per finished epoch, for training and validation, in both charts (live, then
    // the finished run's own curves).
    for (const series of ['curve-loss-train', 'curve-loss-val', 'curve-accuracy-train', 'curve-accuracy-val']) {
      await expect.poll(() => points(page, series), JOB_WAIT).toBe(2);
    }
    const row = page.getByTestId('run-row').first();
    await expect.poll(() => row.getByTestId('run-status').textContent(), JOB_WAIT).toBe('completed');
    console.log(`train e2e: a 2-epoch run took ${((Date.now() - started) / 1000).toFixed(1)} s in the UI`);
    expect(await row.getByTestId('run-test-accuracy').textContent()).toMatch(/^\d+\.\d%$/);
    expect(await row.getByTestId('run-val-accuracy').textContent()).toMatch(/^\d+\.\d%$/);
    expect(await row.getByTestId('run-arch').textContent()).toBe('MLP');
    expect(await row.getByTestId('best-badge').count()).toBe(1);
    expect(await page.getByTestId('run-row').count()).toBe(1);
    await page.getByTestId('train-progress').waitFor({ state: 'detached', ...JOB_WAIT });

    // The finished run is shown with the settings it used.
    const details = page.getByTestId('run-details');
    expect(await details.getAttribute('data-run-id')).toBe(await row.getAttribute('data-run-id'));
    expect(await text(page, 'run-details')).toContain('240 training, 30 validation, 30 test images');
    expect(await page.getByRole('img', { name: /^Loss per epoch: Training [\d.]+ at epoch 2; Validation/ }).count()).toBe(1);
    // From scratch the model is the best validation epoch's: its text, its chart's marker and the list say which.
    const kept = /^Kept: epoch (\d) — the best validation accuracy, of 2 epochs trained\.$/.exec(await text(page, 'run-kept'));
    expect(kept).not.toBeNull();
    expect(await page.getByTestId('curve-loss-mark').getAttribute('data-epoch')).toBe(kept![1]);
    expect(await text(page, 'run-epochs')).toBe(`2 (kept ${kept![1]})`);
    expect(problems).toEqual([]);
  }, 180_000);

  it('cancels a long run, which the history then shows as cancelled', async () => {
    const { page, problems } = await openTrainView();
    // About 4 min on this loaded 2-core machine (64 px, 960 images/s): far longer than the test
    // (Cancel comes after 2 epochs), even on a machine ten times as fast.
    await planSmallRun(page, 1000, 64);
    await page.getByLabel('Stop early').uncheck();
    await expect.poll(() => page.getByTestId('config-stopping').textContent()).toMatch(/^\s*off/);

    await page.getByTestId('train-button').click();
    await expect.poll(() => points(page, 'curve-loss-train'), JOB_WAIT).toBeGreaterThanOrEqual(1);

    // A reload finds the running training again, with its progress and curves so far, and the
    // Advanced settings it was started with (they are kept with the project).
    await page.reload();
    await page.getByTestId('train-progress').waitFor(JOB_WAIT);
    await expect.poll(() => page.getByTestId('config-epochs').textContent(), JOB_WAIT).toBe('1000');
    expect(await page.getByTestId('config-arch').textContent()).toBe('MLP (mlp)');
    // Architecture, input width, epochs, and Stop early (one click's one-cycle plan stops early).
    expect(await text(page, 'train-advanced')).toContain('4 changed');
    await expect.poll(() => page.getByTestId('train-phase').textContent(), JOB_WAIT).toMatch(/^Epoch \d+\/1000$/);
    await expect.poll(() => points(page, 'curve-loss-train'), JOB_WAIT).toBeGreaterThanOrEqual(2);
    expect(await page.getByTestId('live-run').count()).toBe(1);
    await expect.poll(() => page.getByTestId('train-eta').textContent(), JOB_WAIT).toMatch(/left$/);
    // Counts are images trained on over all epochs (240 per epoch), with their rate.
    await expect.poll(() => text(page, 'train-count'), JOB_WAIT).toMatch(/^[\d,]+ of 240,000 images$/);
    expect(await text(page, 'train-progress')).toMatch(/ [\d,]+ images\/s /);
    expect(await page.getByTestId('train-button').isDisabled()).toBe(true);
    console.log(`train e2e: the long run, before Cancel: ${await text(page, 'train-progress')}`);
    const cancelledAt = Date.now();
    await page.getByTestId('train-cancel').click();
    const row = page.getByTestId('run-row').first();
    await expect.poll(() => row.getByTestId('run-status').textContent(), JOB_WAIT).toBe('cancelled');
    const seconds = (Date.now() - cancelledAt) / 1000;
    console.log(`train e2e: the run was cancelled ${seconds.toFixed(1)} s after Cancel`);
    expect(seconds).toBeLessThan(5);
    await page.getByTestId('train-progress').waitFor({ state: 'detached', ...JOB_WAIT });
    expect(await row.getByTestId('best-badge').count()).toBe(0);
    // A run was added, so the project changed and the plan is made again; Train comes back then.
    await expect.poll(() => page.getByTestId('train-button').isEnabled(), JOB_WAIT).toBe(true);
    expect(problems).toEqual([]);
  }, 180_000);

  it('says plainly why it cannot train with one class', async () => {
    // Only "cat" has images: training needs two classes.
    const { page, problems } = await openTrainView((i) => (i % 2 === 0 ? 'cat' : undefined));
    await expect.poll(() => text(page, 'plan-blocker')).toBe('Only one class ("cat") has training images: training needs at least two.');
    expect(await page.getByTestId('train-button').isDisabled()).toBe(true);
    expect(await page.getByTestId('plan-estimate').count()).toBe(0);
    expect(problems).toEqual([]);
  });
});
