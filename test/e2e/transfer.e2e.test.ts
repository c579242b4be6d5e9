// Transfer learning in the real UI (browser mode, Chromium), on a tiny generated backbone: the
// plan shows the backbone and why, the Backbones panel shows it is here and measures its speed,
// Advanced settings can turn it off (from scratch) and on again, and a run trains a head with
// feature extraction as part of the train job's progress.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TINY_ID } from '../services/backbones/backbone-helpers';
import { hasChromium, launch, newPage, servePhotosWithTinyBackbone } from './harness';

const text = async (page: import('playwright-core').Page, testid: string) => ((await page.getByTestId(testid).first().textContent()) ?? '').replace(/\s+/g, ' ').trim();

describe.runIf(hasChromium)('transfer learning in the train view (Chromium, browser mode)', () => {
  it('plans with the backbone, turns it off and on in Advanced settings, and trains a head on its features', async () => {
    const { dir, server } = await servePhotosWithTinyBackbone('loupe-e2e-transfer-');
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Train' }).click();
    await page.getByTestId('plan-estimate').waitFor();

    await expect.poll(() => text(page, 'config-backbone')).toMatch(/^TinyNet \(official\) at 32×32, 24 features, with flipped copies; predictions average each image and its mirror image$/);
    expect(await text(page, 'config-arch')).toBe('Dense head (dense-head)');
    expect(await text(page, 'plan-explanation')).toMatch(/^Transfer learning: these look like photos, so TinyNet/);
    await page.getByTestId('backbones').locator('summary').click();
    expect(await text(page, 'backbone-state')).toBe('Here');
    expect(await text(page, 'backbone-verified')).toBe('Here, verified');
    expect(await text(page, 'backbone-speeds')).toBe('Extraction speed here: not measured');
    // Measure speed: a job the panel shows while it runs, ending in a toast.
    await page.getByTestId('backbone-measure').click();
    await page.getByTestId('toast-text').filter({ hasText: 'Speed measured on this machine.' }).waitFor({ timeout: 60_000 });
    await expect.poll(() => page.getByTestId('backbone-measuring').count()).toBe(0);
    // The panel lists the speed measured, images/s per resolution.
    await expect.poll(() => text(page, 'backbone-speeds')).toMatch(/^Extraction speed here: .*images\/s/);

    await page.getByTestId('train-advanced').locator('summary').click();
    await page.getByTestId('backbone-select').selectOption('none');
    await expect.poll(() => text(page, 'config-backbone'), { timeout: 30_000 }).toBe('none (trained from scratch)');
    await page.getByTestId('backbone-select').selectOption(TINY_ID);
    await expect.poll(() => text(page, 'config-backbone')).toMatch(/^TinyNet/);
    await page.getByLabel('Epochs', { exact: true }).fill('2');
    await expect.poll(() => page.getByTestId('config-epochs').textContent()).toBe('2');
    await expect.poll(() => page.getByTestId('train-button').isEnabled()).toBe(true);

    await page.evaluate(() => {
      const seen = window as unknown as { phases?: string[] };
      seen.phases = [];
      const look = () => {
        const p = document.querySelector('[data-testid=train-phase]')?.textContent;
        if (p && !seen.phases!.includes(p)) seen.phases!.push(p);
      };
      new MutationObserver(look).observe(document.body, { childList: true, subtree: true, characterData: true });
    });
    await page.getByTestId('train-button').click();
    const row = page.getByTestId('run-row').first();
    await expect.poll(() => row.getByTestId('run-status').textContent(), { timeout: 60_000 }).toBe('completed');
    expect(await row.getByTestId('run-arch').textContent()).toBe('Dense head');
    const phases = await page.evaluate(() => (window as unknown as { phases: string[] }).phases);
    expect(phases.some((p) => p.startsWith('Extracting features (TinyNet)'))).toBe(true);
    expect(fs.readdirSync(path.join(dir, 'cache')).some((n) => n.startsWith('features-'))).toBe(true);
    expect(problems).toEqual([]);
  }, 120_000);
});
