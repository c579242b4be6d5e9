// Import in the real UI (Chromium, browser mode): a folder picked in the page and files dropped
// on the window are streamed to the server and imported with progress and a report; the start
// screen creates the sample project.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers';
import { folder, image } from '../services/import/import-helpers';
import { hasChromium, JOB_WAIT, launch, newPage, serve } from './harness';

describe.runIf(hasChromium)('import (Chromium, browser mode)', () => {
  it('imports a picked folder and dropped files, and shows the report', async () => {
    const server = await serve();
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    await page.getByLabel('Name').fill('Pets');
    await page.getByLabel('Location').fill(tempDir());
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('button', { name: 'Overview' }).click();

    const pets = await folder({ 'cat/1.png': 1, 'cat/2.png': 2, 'dog/1.png': 3, 'dog/notes.jpg': Buffer.from('not an image') });
    await page.getByTestId('import-folder-input').setInputFiles(pets);
    const report = page.getByTestId('import-report');
    await expect.poll(() => page.getByTestId('import-imported').textContent(), { timeout: 30_000 }).toBe('3');
    expect(await report.textContent()).toContain('New classes: cat, dog');
    const skipped = await page.getByTestId('import-skipped').textContent();
    expect(skipped).toContain(`${path.basename(pets)}/dog/notes.jpg`);
    expect(skipped).toContain('Not an image');
    await expect.poll(() => page.getByTestId('stat-images').textContent(), JOB_WAIT).toBe('3');

    // A file dropped on the window.
    const png = (await image('png', { seed: 99 })).toString('base64');
    await page.evaluate((b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
      window.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
      window.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, png);
    await expect.poll(() => page.getByTestId('stat-images').textContent(), { timeout: 30_000 }).toBe('4');
    expect(await page.getByTestId('import-imported').textContent()).toBe('1');
    expect(problems).toEqual([]);
  }, 120_000);

  it('creates the sample project from the start screen', async () => {
    const where = tempDir(); // before the server, so it is removed after the server has stopped
    const server = await serve();
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    await page.getByLabel('Location').fill(where);
    await expect.poll(() => page.getByTestId('sample-path').textContent()).toBe(path.join(where, 'Digits (sample).loupe'));
    await page.getByRole('button', { name: /Try the sample/ }).click();
    await expect.poll(() => page.getByTestId('project-name').textContent()).toBe('Digits (sample)');
    // The digits are being imported, with progress shown in the project's frame (the import itself is tested in sample.test.ts).
    await expect.poll(() => page.getByTestId('import-progress').textContent(), { timeout: 30_000 }).toMatch(/Importing: [\d,]+\/10,000/);
    expect(problems).toEqual([]);
  });
});
