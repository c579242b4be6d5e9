// The 60,000-image project: first thumbnails (target: within a second), a labeling keystroke
// saved and repainted (target: 50 ms at the 95th percentile), and a bounded DOM from top to
// bottom. The figures are printed; the test holds them to three times the targets (generous()).

import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeFixtureProject } from '../fixtures';
import { tempDir } from '../helpers';
import { generous, hasChromium, labelLatencies, launch, newPage, openGallery, percentile, serve } from './harness';

const N = 60_000;
const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];


describe.runIf(hasChromium)('a 60,000-image project (Chromium, browser mode)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = path.join(tempDir(), 'large.loupe');
    await makeFixtureProject(dir, { count: N, classes: CLASSES, distinct: 2000, label: (i) => (i % 2 ? CLASSES[i % 10] : undefined) });
  }, 120_000);

  it('opens fast, labels at typing speed (p95 printed against 50 ms) and keeps the DOM bounded while scrolling', { timeout: 120_000 }, async () => {
    const server = await serve(['--project', dir]);
    const browser = await launch();
    const { page, problems } = await newPage(browser);

    const firstThumbMs = await openGallery(page, server.openUrl);
    expect(await page.getByTestId('gallery-count').textContent()).toBe('60,000 images');

    // Label 120 images in a row from the keyboard at a fast labeler's pace (8 keys a second);
    // keys cycle through the classes.
    await page.getByTestId('filter-unlabeled').click();
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe('30,000 images');
    for (let i = 0; i < 120; i++) {
      await page.keyboard.press(String((i % 9) + 1));
      await page.waitForTimeout(125);
    }
    const latencies = await labelLatencies(page, 120);
    expect(latencies).toHaveLength(120);
    await expect.poll(() => page.getByTestId('count-unlabeled').textContent()).toBe('29,880');
    const p50 = percentile(latencies, 50);
    const p95 = percentile(latencies, 95);

    // Scroll from top to bottom: only what is on screen is in the DOM.
    await page.getByRole('button', { name: /^All images/ }).click();
    await expect.poll(() => page.getByTestId('gallery-count').textContent()).toBe('60,000 images');
    const grid = page.getByTestId('grid');
    const scrollHeight = await grid.evaluate((el) => el.scrollHeight);
    let maxCells = 0;
    for (let step = 0; step <= 20; step++) {
      await grid.evaluate((el, y) => el.scrollTo(0, y), (scrollHeight * step) / 20);
      await page.waitForTimeout(30);
      maxCells = Math.max(maxCells, await page.locator('[data-testid=cell]').count());
    }
    await expect.poll(() => page.locator(`[data-testid=cell][data-index="${N - 1}"] img`).count()).toBe(1);

    console.log(
      `[figures] 60k project: first thumbnail ${firstThumbMs} ms; label keystroke saved+repainted p50 ${p50.toFixed(1)} ms, ` +
        `p95 ${p95.toFixed(1)} ms (n=${latencies.length}); max cells in DOM while scrolling ${maxCells}`,
    );
    expect(firstThumbMs).toBeLessThan(generous(1000));
    expect(p95).toBeLessThan(generous(50));
    expect(maxCells).toBeLessThan(400);
    expect(problems).toEqual([]);
  });
});
