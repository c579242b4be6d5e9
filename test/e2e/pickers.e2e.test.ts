// Folder pickers and project switches in the real UI (Chromium, browser mode): the path in a
// picker is exactly what it picks (a missing one disables the button and says why), New folder
// and hidden folders; no project inside a project; Open for an existing project; the start
// screen comes back where the user was; a folder on the server is imported where it is; and a
// new project shows nothing of the last one's import.

import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { Project } from '../../src/main/store/project';
import { tempDir } from '../helpers';
import { folder } from '../services/import/import-helpers';
import { hasChromium, launch, newPage, serve } from './harness';

const text = async (locator: { textContent(): Promise<string | null> }) => ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();

async function createInUi(page: Page, name: string, location: string) {
  await page.getByRole('heading', { name: 'New project' }).waitFor();
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Location').fill(location);
  const create = page.getByRole('button', { name: 'Create project' });
  await expect.poll(() => create.isEnabled()).toBe(true);
  await create.click();
  await expect.poll(() => page.getByTestId('project-name').textContent()).toBe(name);
}

describe.runIf(hasChromium)('folder pickers (Chromium, browser mode)', () => {
  it('refuses a missing path, makes a new folder, and says a folder holds only hidden ones', async () => {
    // A home folder holding nothing but hidden folders, as a fresh account's does.
    const home = tempDir('loupe-user-');
    for (const d of ['.cache', '.config', '.local']) fs.mkdirSync(path.join(home, d));
    const server = await serve([], { HOME: home });
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    await expect.poll(() => page.getByLabel('Location').inputValue()).toBe(home);
    await page.getByLabel('Name').fill('Birds');
    await page.getByRole('button', { name: 'Choose…' }).click();

    const dialog = page.getByRole('dialog', { name: 'Choose a location' });
    const pick = dialog.getByTestId('folder-pick');
    await expect.poll(() => text(dialog.getByTestId('folder-empty'))).toBe('No folders here, only 3 hidden folders.');
    await dialog.getByTestId('show-hidden').check();
    await expect.poll(() => dialog.getByRole('list', { name: 'Folders' }).getByRole('button').evaluateAll((els) => els.map((e) => e.textContent?.trim()))).toEqual(['.cache', '.config', '.local']);
    await dialog.getByTestId('show-hidden').uncheck();
    await dialog.getByTestId('folder-empty').waitFor();

    // A path that does not exist: the button is disabled and says why; Go says so too and
    // nothing else is offered in its place.
    const missing = path.join(home, 'nowhere');
    await dialog.getByTestId('folder-path').fill(missing);
    await expect.poll(() => text(dialog.getByTestId('folder-refusal'))).toBe(`${missing} does not exist.`);
    expect(await pick.isDisabled()).toBe(true);
    await dialog.getByRole('button', { name: 'Go' }).click();
    await expect.poll(() => text(dialog.getByTestId('folder-error'))).toBe(`${missing} does not exist.`);
    expect(await pick.isDisabled()).toBe(true);
    expect(await dialog.getByTestId('folder-path').inputValue()).toBe(missing);

    // Back home, New folder: a name that would leave the folder is refused before it is sent.
    await dialog.getByTestId('folder-path').fill(home);
    await dialog.getByRole('button', { name: 'Go' }).click();
    await expect.poll(() => pick.isEnabled()).toBe(true);
    await dialog.getByRole('button', { name: 'New folder' }).click();
    await dialog.getByLabel('New folder name').fill('../escape');
    expect(await dialog.getByRole('button', { name: 'Create folder' }).isDisabled()).toBe(true);
    await dialog.getByLabel('New folder name').fill('Projects');
    await dialog.getByRole('button', { name: 'Create folder' }).click();
    const made = path.join(home, 'Projects');
    await expect.poll(() => dialog.getByTestId('folder-path').inputValue()).toBe(made);
    expect(fs.statSync(made).isDirectory()).toBe(true);
    expect(fs.existsSync(path.join(path.dirname(home), 'escape'))).toBe(false);
    await expect.poll(() => pick.isEnabled()).toBe(true);
    await pick.click();
    await expect.poll(() => page.getByLabel('Location').inputValue()).toBe(made);
    await page.getByRole('button', { name: 'Create project' }).click();
    await expect.poll(() => page.getByTestId('project-name').textContent()).toBe('Birds');
    expect(fs.existsSync(path.join(made, 'Birds.loupe', 'project.db'))).toBe(true);

    // After closing it, the start screen is where the user was, not back home.
    await page.getByRole('button', { name: 'Close project' }).click();
    await expect.poll(() => page.getByLabel('Location').inputValue()).toBe(made);
    expect(problems).toEqual([]);
  });

  it('refuses a project inside a project, and opens an existing one from the warning', async () => {
    const where = tempDir();
    const pets = path.join(where, 'pets.loupe');
    Project.create(pets, 'Pets').close();
    const server = await serve();
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    const create = page.getByRole('button', { name: 'Create project' });

    // Inside the project's folder: Create stays disabled, and says why.
    await page.getByLabel('Name').fill('Inner');
    await page.getByLabel('Location').fill(path.join(pets, 'media'));
    await expect.poll(() => text(page.getByTestId('location-problem'))).toBe(
      `${path.join(pets, 'media')} is inside the Loupe project ${pets}: a project cannot hold another project. Choose a folder outside it.`,
    );
    expect(await create.isDisabled()).toBe(true);
    // The location picker refuses it the same way.
    await page.getByRole('button', { name: 'Choose…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Choose a location' });
    await expect.poll(() => text(dialog.getByTestId('folder-refusal'))).toMatch(/is inside the Loupe project .*pets\.loupe: a project cannot hold another project\.$/);
    expect(await dialog.getByTestId('folder-pick').isDisabled()).toBe(true);
    await dialog.getByRole('button', { name: 'Close' }).click();

    // The folder the name leads to is a project already: Open it opens it.
    await page.getByLabel('Name').fill('pets');
    await page.getByLabel('Location').fill(where);
    await expect.poll(() => text(page.getByTestId('target-problem'))).toBe(`${pets} is already a Loupe project. Open it`);
    expect(await create.isDisabled()).toBe(true);
    await page.getByTestId('target-problem').getByRole('button', { name: 'Open it' }).click();
    await expect.poll(() => page.getByTestId('project-name').textContent()).toBe('Pets');
    expect(fs.readdirSync(where)).toEqual(['pets.loupe']);
    expect(problems).toEqual([]);
  });

  it('imports a folder on the server, shows the running import in the dialog, and a new project starts clean', async () => {
    const where = tempDir();
    const first = await folder({ 'cat/1.png': 1, 'cat/2.png': 2, 'dog/1.png': 3 });
    const second = await folder({ 'cat/4.png': 4, 'dog/5.png': 5 });
    const server = await serve();
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    await createInUi(page, 'Garden', where);

    const dialog = page.getByRole('dialog', { name: 'Import images' });
    const importFolder = async (dir: string) => {
      await dialog.getByRole('button', { name: 'A folder on the server…' }).click();
      const picker = dialog.getByTestId('server-folder');
      await expect.poll(() => picker.getByTestId('folder-path').inputValue()).not.toBe('');
      await picker.getByTestId('folder-path').fill(dir);
      await expect.poll(() => picker.getByTestId('folder-pick').isEnabled()).toBe(true);
      await picker.getByTestId('folder-pick').click();
    };
    await page.getByRole('button', { name: 'Import…' }).click();
    await importFolder(first);
    await expect.poll(() => dialog.getByTestId('import-imported').textContent(), { timeout: 30_000 }).toBe('3');
    expect(await text(dialog.getByTestId('import-report'))).toContain('New classes: cat, dog');

    // While the next import runs, the dialog shows it, never the last report.
    await page.evaluate(() => {
      const seen: { progress: boolean; report: string | null }[] = [];
      (window as unknown as { seen: typeof seen }).seen = seen;
      new MutationObserver(() => {
        seen.push({
          progress: document.querySelector('dialog [data-testid=import-dialog-progress]') !== null,
          report: document.querySelector('dialog [data-testid=import-report]')?.textContent ?? null,
        });
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await importFolder(second);
    await expect.poll(() => dialog.getByTestId('import-imported').textContent(), { timeout: 30_000 }).toBe('2');
    const seen = await page.evaluate(() => (window as unknown as { seen: { progress: boolean; report: string | null }[] }).seen);
    expect(seen.some((s) => s.progress && s.report === null)).toBe(true);
    expect(seen.filter((s) => s.progress && s.report !== null)).toEqual([]);
    await dialog.getByRole('button', { name: 'Close' }).click();

    // The server-side picker starts where the last import's ended.
    await page.getByRole('button', { name: 'Import…' }).click();
    await dialog.getByRole('button', { name: 'A folder on the server…' }).click();
    await expect.poll(() => dialog.getByTestId('server-folder').getByTestId('folder-path').inputValue()).toBe(second);
    await dialog.getByRole('button', { name: 'Close' }).click();

    // A new project shows nothing of the last one's import.
    await page.getByRole('button', { name: 'Close project' }).click();
    await createInUi(page, 'Orchard', where);
    await page.getByRole('button', { name: 'Import…' }).click();
    await dialog.getByRole('heading', { name: 'Import images' }).waitFor();
    expect(await page.getByTestId('import-report').count()).toBe(0);
    expect(await page.getByTestId('import-dialog-progress').count()).toBe(0);
    await dialog.getByRole('button', { name: 'Close' }).click();

    // Straight from one project to another by its URL: the other one's images, in a fresh frame.
    await page.getByRole('button', { name: 'Overview' }).click();
    await expect.poll(() => page.getByTestId('stat-images').textContent()).toBe('0');
    await page.evaluate((p) => (location.hash = `#/p/${encodeURIComponent(p)}/overview`), path.join(where, 'Garden.loupe'));
    await expect.poll(() => page.getByTestId('project-name').textContent()).toBe('Garden');
    await expect.poll(() => page.getByTestId('stat-images').textContent()).toBe('5');
    expect(problems).toEqual([]);
  });
});
