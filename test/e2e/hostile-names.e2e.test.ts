// Hostile names in the real UI (Chromium, browser mode): a project, classes and images named
// with HTML and script are shown as text, in every view, and nothing in them runs (the page's
// CSP would report an inline script it blocked: the page must report nothing).

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Project } from '../../src/main/store/project';
import { makeFixtureProject } from '../fixtures';
import { tempDir } from '../helpers';
import { hasChromium, launch, newPage, serve } from './harness';

const PROJECT = '<img src=x onerror="window.__pwned=1">Evil';
const CLASSES = ['<b id="injected">bold</b>', '"><script>window.__pwned=2</script>', "'); window.__pwned=3; ('"];
const IMAGE = '<svg onload="window.__pwned=4">.png';

describe.runIf(hasChromium)('hostile names in the UI (Chromium, browser mode)', () => {
  it('are shown as text in every view, and nothing in them runs', { timeout: 90_000 }, async () => {
    const dir = path.join(tempDir(), 'evil.loupe');
    await makeFixtureProject(dir, { count: 30, classes: CLASSES, label: (i) => (i % 4 === 3 ? undefined : CLASSES[i % 3]), name: (i) => (i === 0 ? IMAGE : `img_${i}.png`) });
    const project = Project.open(dir);
    project.db.prepare("UPDATE meta SET value = ? WHERE key = 'name'").run(PROJECT);
    project.close();

    const server = await serve(['--project', dir]);
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    await expect.poll(() => page.getByTestId('project-name').textContent()).toBe(PROJECT);
    const classList = page.getByTestId('class-list');
    for (const name of CLASSES) expect(await classList.getByText(name, { exact: true }).count(), name).toBeGreaterThan(0);

    // The image viewer shows the file name as text (Enter opens it once the gallery has its images).
    await page.getByTestId('cell').first().waitFor();
    await page.keyboard.press('Enter');
    await page.getByTestId('viewer').waitFor();
    // The name arrives with the image's details, a moment after the viewer opens.
    await expect.poll(() => page.getByTestId('viewer').getByText(IMAGE, { exact: true }).count()).toBe(1);
    await page.keyboard.press('Escape');

    for (const view of ['Overview', 'Doctor', 'Train', 'Evaluate', 'Export', 'Predict', 'Label']) {
      const tab = page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: view });
      if ((await tab.count()) === 0) continue;
      await tab.click();
      await page.waitForTimeout(300);
    }
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('#injected').count()).toBe(0);
    expect(await page.locator('svg[onload], img[onerror], script:not([src])').count()).toBe(0);
    expect(problems).toEqual([]);
  });
});
