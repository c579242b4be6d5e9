import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers';
import { hasChromium, launch, newPage, serve } from './harness';

describe.runIf(hasChromium)('start screen (Chromium, browser mode)', () => {
  it('creates a project, survives a reload, and lists it under recent projects', async () => {
    const server = await serve();
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    const where = tempDir();

    await page.goto(server.openUrl);
    await page.getByRole('heading', { name: 'New project' }).waitFor();
    await page.getByLabel('Name').fill('Garden <b>birds</b>');
    await page.getByLabel('Location').fill(where);
    const expected = path.join(where, 'Garden -b-birds--b-.loupe');
    await expect.poll(() => page.getByTestId('new-project-path').textContent()).toBe(expected);
    await page.getByRole('button', { name: 'Create project' }).click();

    // The project frame shows the name as text, never as markup.
    await expect.poll(() => page.getByTestId('project-name').textContent()).toBe('Garden <b>birds</b>');
    expect(await page.locator('b').count()).toBe(0);
    expect(fs.existsSync(path.join(expected, 'project.db'))).toBe(true);
    await page.getByText('This project has no images yet.').waitFor();
    await page.getByRole('button', { name: 'Overview' }).click();
    expect(await page.getByTestId('stat-images').textContent()).toBe('0');

    // A reload comes back to the same project (the route is in the URL)...
    await page.reload();
    await expect.poll(() => page.getByTestId('project-name').textContent()).toBe('Garden <b>birds</b>');

    // ...and after closing it, the start screen lists it under recent projects.
    await page.getByRole('button', { name: 'Close project' }).click();
    const recent = page.getByTestId('recent-list');
    await recent.waitFor();
    expect(await recent.textContent()).toContain(expected);

    // A fresh tab on the bare URL shows the same recent list.
    await page.goto(server.origin + '/');
    await page.getByTestId('recent-list').waitFor();
    expect(await page.getByTestId('recent-list').getByRole('button', { name: /^Garden/ }).count()).toBe(1);

    // And reopening from the list works.
    await page.getByTestId('recent-list').getByRole('button', { name: /^Garden/ }).click();
    await expect.poll(() => page.getByTestId('project-name').textContent()).toBe('Garden <b>birds</b>');

    expect(problems).toEqual([]);
  });

  it('refuses a page without the token', async () => {
    const server = await serve();
    const browser = await launch();
    const { page } = await newPage(browser);
    const response = await page.goto(server.origin + '/');
    expect(response?.status()).toBe(401);
    expect(await page.textContent('body')).toMatch(/access token/);
  });

  it('opens the project given to `loupe serve --project`', async () => {
    const dir = path.join(tempDir(), 'given.loupe');
    const { spawnSync } = await import('node:child_process');
    const { cliPath } = await import('../helpers');
    expect(spawnSync(process.execPath, [cliPath, 'create', dir, '--name', 'Given']).status).toBe(0);
    const server = await serve(['--project', dir]);
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    await expect.poll(() => page.getByTestId('project-name').textContent()).toBe('Given');
    expect(problems).toEqual([]);
  });
});
