// A newcomer's first run in the real UI (browser mode, Chromium), on a tiny generated backbone,
// at the two window sizes people use: the plan leads with one plain sentence (the internals
// only in its folded Details), the running training shows where Train was clicked, and the
// finished run says which epoch's weights it kept, the same in its text, its chart and the list.
// LOUPE_SCREENSHOTS=<dir> keeps a screenshot of each step.

import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { hasChromium, launch, newPage, servePhotosWithTinyBackbone } from './harness';

const text = async (page: Page, testid: string) => ((await page.getByTestId(testid).first().textContent()) ?? '').replace(/\s+/g, ' ').trim();

/** Whether the element is inside the window as it is scrolled now (no scrolling to find it). */
async function inViewport(page: Page, locator: Locator): Promise<boolean> {
  const box = await locator.boundingBox();
  const size = page.viewportSize()!;
  return box !== null && box.width > 0 && box.y >= 0 && box.y + box.height <= size.height && box.x >= 0 && box.x + box.width <= size.width;
}

async function shot(page: Page, name: string): Promise<void> {
  const dir = process.env.LOUPE_SCREENSHOTS;
  if (dir) await page.screenshot({ path: path.join(dir, `${name}.png`) });
}

/** What people see of the plan: its visible text only (a closed Details hides its content). */
const visibleText = (locator: Locator) => locator.evaluate((el) => (el as HTMLElement).innerText);

async function setUp() {
  return servePhotosWithTinyBackbone('loupe-e2e-first-run-');
}

describe.runIf(hasChromium)('a first run in the train view (Chromium, browser mode)', () => {
  for (const size of [
    { width: 1024, height: 700 },
    { width: 1440, height: 900 },
  ]) {
    it(`at ${size.width}x${size.height}: a plain plan, progress where Train was clicked, and the kept epoch said the same everywhere`, async () => {
      const { server } = await setUp();
      const browser = await launch();
      const { page, problems } = await newPage(browser);
      await page.setViewportSize(size);
      await page.goto(server.openUrl);
      await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Train' }).click();

      // The plan: one plain sentence, then the key choices; the internals are folded away.
      const plan = page.getByTestId('train-plan');
      const headline = page.getByTestId('plan-headline');
      await headline.waitFor();
      expect(await text(page, 'plan-headline')).toMatch(/^Loupe will train a small classifier on what a pretrained image model \(TinyNet\) sees in each photo — about \d+ (s|min) on this machine\.$/);
      expect(await inViewport(page, headline)).toBe(true);
      expect(await page.getByTestId('plan-choices').locator('li').count()).toBeGreaterThanOrEqual(3);
      expect(await text(page, 'plan-choices')).toContain('the last pass is kept');
      const internals = /onnxruntime|libvulkan|@tensorflow|tfjs|conv_pw|dense-head|features at/;
      expect(await page.getByTestId('plan-details').getAttribute('open')).toBeNull();
      expect(await visibleText(plan)).not.toMatch(internals);
      expect(await visibleText(page.getByRole('region', { name: 'Train' }))).not.toMatch(internals);
      await shot(page, `plan-${size.width}`);
      // Details hold every setting and why, internals included.
      await page.getByTestId('plan-details').locator('summary').click();
      expect(await visibleText(plan)).toMatch(/onnxruntime/);
      expect(await page.getByTestId('plan-explanation').isVisible()).toBe(true);
      await page.getByTestId('plan-details').locator('summary').click();

      // Train: progress, time left, Cancel and the live curves appear where the click was,
      // without scrolling. A run of 1,000 epochs is still running while they are looked at.
      await page.getByTestId('train-advanced').locator('summary').click();
      await page.getByLabel('Epochs', { exact: true }).fill('1000');
      await expect.poll(() => plan.getByTestId('config-epochs').textContent(), { timeout: 30_000 }).toBe('1000');
      await expect.poll(() => page.getByTestId('train-button').isEnabled(), { timeout: 30_000 }).toBe(true);
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.getByTestId('train-button').click();
      const live = page.getByTestId('live-run');
      await live.waitFor();
      expect(await inViewport(page, live.locator('h2'))).toBe(true);
      await page.getByTestId('train-progress').waitFor({ timeout: 30_000 });
      await page.getByTestId('train-eta').waitFor({ timeout: 30_000 });
      await shot(page, `running-${size.width}`);
      for (const part of ['train-phase', 'train-eta', 'train-cancel', 'train-count', 'curve-loss']) {
        expect(await inViewport(page, page.getByTestId(part)), part).toBe(true);
      }
      await page.getByTestId('train-cancel').click();
      await expect.poll(() => page.getByTestId('run-row').first().getByTestId('run-status').textContent(), { timeout: 30_000 }).toBe('cancelled');
      await page.getByLabel('Epochs', { exact: true }).fill('5');
      await expect.poll(() => plan.getByTestId('config-epochs').textContent(), { timeout: 30_000 }).toBe('5');
      await expect.poll(() => page.getByTestId('train-button').isEnabled(), { timeout: 30_000 }).toBe(true);
      await page.getByTestId('train-button').click();

      // The finished run: which epoch's weights it kept, and why, the same in its text, its
      // chart's marker and the list; the scores shown are that epoch's.
      const row = page.getByTestId('run-row').first();
      await expect.poll(() => row.getAttribute('data-run-id'), { timeout: 30_000 }).toBe('2');
      await expect.poll(() => row.getByTestId('run-status').textContent(), { timeout: 60_000 }).toBe('completed');
      const details = page.getByTestId('run-details');
      await details.waitFor();
      await shot(page, `finished-${size.width}`);
      const kept = await text(page, 'run-kept');
      const match = /^Kept: last epoch \((\d+)\) — fewer than 1,000 validation images \(\d+\), too few to pick a better one, of (\d+) epochs trained\.$/.exec(kept);
      expect(match, kept).not.toBeNull();
      const epoch = match![1];
      expect(epoch).toBe(match![2]);
      expect(await page.getByTestId('curve-accuracy-mark').getAttribute('data-epoch')).toBe(epoch);
      expect(await page.getByTestId('curve-loss-mark').getAttribute('data-epoch')).toBe(epoch);
      expect(await page.getByTestId('curve-accuracy-mark').locator('text').textContent()).toBe('kept: last epoch');
      expect(epoch).toBe('5');
      expect(await text(page, 'run-epochs')).toBe(`${epoch} (kept ${epoch})`);
      // The validation score shown is the kept (last) epoch's, as the chart's summary says it.
      const shown = / Validation (\d+\.\d%)/.exec(await text(page, 'run-details'))![1];
      const chart = await page.getByRole('img', { name: /^Accuracy per epoch:/ }).getAttribute('aria-label');
      expect(chart).toContain(`Validation ${shown} at epoch ${epoch}`);
      // The duration is the whole run, with the feature extraction in it (cached by the first run).
      expect(await text(page, 'run-duration')).toMatch(/^\d+ s in all: feature extraction \d+\.\d s, training \d+\.\d s · training at [\d,]+ images\/s$/);
      expect(problems).toEqual([]);
      await browser.close();
    }, 120_000);
  }
});
