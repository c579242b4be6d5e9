// The Doctor view and "more like this" in the real UI (browser mode, Chromium): the check runs
// as a job, the leak comes first with the scope of a check without a backbone, each action on a
// finding works from the keyboard and Ctrl+Z restores it (on disk too); "more like this" shows
// the altered copy first in the gallery and a labeling key labels it there.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { Project } from '../../src/main/store/project';
import { cliPath, tempDir } from '../helpers';
import { knownProblemsFolder, png, scene } from '../services/doctor/doctor-helpers';
import { cacheTinyFeatures, similarFolder, tinyBackboneHere } from '../services/features/similar-helpers';
import { hasChromium, JOB_WAIT, launch, newPage, serve, type Served } from './harness';

/** Stops `loupe serve`, so that the CLI may open the project. */
function stop(server: Served): Promise<void> {
  return new Promise((resolve) => {
    if (server.proc.exitCode !== null || server.proc.signalCode !== null) return resolve();
    server.proc.once('exit', () => resolve());
    server.proc.kill('SIGTERM');
  });
}

const loupe = (args: string[]) => spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env: { ...process.env, LOUPE_HOME: tempDir('loupe-home-') } });
const cell = (page: Page, index: number) => page.locator(`[data-testid=cell][data-index="${index}"]`);
const cellLabel = async (page: Page, index: number) => {
  const label = cell(page, index).getByTestId('cell-label');
  return (await label.count()) ? (await label.textContent())?.trim() : null;
};
const cellName = (page: Page, index: number) => cell(page, index).locator('img').getAttribute('alt');
const cellSplit = (page: Page, index: number) => cell(page, index).getByTestId('doctor-split').textContent();
/** The leak's two images on disk: name, split and label of each. */
function leakOnDisk(dir: string): string[] {
  const r = loupe(['doctor', dir, '--json']);
  const report = JSON.parse(r.stdout);
  const leak = report.findings.find((f: { crossSplit: boolean }) => f.crossSplit);
  return leak ? leak.images.map((i: { name: string; split: string; label: string }) => `${i.split}/${i.label}/${i.name}`).sort() : [];
}

describe.runIf(hasChromium)('Doctor view (Chromium, browser mode)', () => {
  it('checks as a job, lists the leak first, and each keyboard action on it is undone by Ctrl+Z', async () => {
    const dir = path.join(tempDir(), 'doctor.loupe');
    expect(loupe(['create', dir]).status).toBe(0);
    expect(loupe(['import', dir, await knownProblemsFolder()]).status).toBe(0);

    const server = await serve(['--project', dir]);
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    await page.getByRole('button', { name: 'Doctor', exact: true }).click();
    await page.getByTestId('doctor-intro').waitFor();
    await page.getByTestId('doctor-start').click();
    await page.getByTestId('doctor-findings').waitFor(JOB_WAIT);
    // Without a backbone: what it checked, and what needs one.
    await expect.poll(() => page.getByTestId('doctor-scope').textContent()).toMatch(/perceptual hash.*Cropped copies need a backbone’s features/s);
    const findings = page.getByTestId('doctor-finding');
    expect(await findings.first().textContent()).toMatch(/^\s*Leak\s*Near-duplicates\s*2 images/);
    const total = await findings.count();
    expect(total).toBe(10);
    // The leak is open: its two images, with thumbnails, in import order.
    await expect.poll(() => page.getByTestId('doctor-open-title').textContent()).toBe('Leak: Near-duplicates');
    await cell(page, 1).locator('img').waitFor();
    expect(await cellName(page, 0)).toBe('mirror.png');
    expect(await cellName(page, 1)).toBe('scene5.png');
    expect(await cellSplit(page, 0)).toBe('test');
    await expect.poll(() => cellLabel(page, 0)).toBe('cat');

    // T moves the focused image to train; Ctrl+Z moves it back.
    await page.keyboard.press('t');
    await expect.poll(() => cellSplit(page, 0)).toBe('train');
    await page.keyboard.press('Control+z');
    await expect.poll(() => cellSplit(page, 0)).toBe('test');

    // 2 relabels it (the second class, dog); Ctrl+Z restores cat.
    await page.keyboard.press('2');
    await expect.poll(() => cellLabel(page, 0)).toBe('dog');
    await page.keyboard.press('Control+z');
    await expect.poll(() => cellLabel(page, 0)).toBe('cat');
    // Labeling moved the focus on to the next image, as in the Label view: back to the first.
    await page.keyboard.press('Home');

    // Shift+Delete removes it from the project; Ctrl+Z brings it back.
    await page.keyboard.press('Shift+Delete');
    await expect.poll(() => page.locator('[data-testid=cell]').count()).toBe(1);
    expect(await cellName(page, 0)).toBe('scene5.png');
    await page.keyboard.press('Control+z');
    await expect.poll(() => page.locator('[data-testid=cell]').count()).toBe(2);
    await expect.poll(async () => [await cellName(page, 0), await cellName(page, 1)].sort()).toEqual(['mirror.png', 'scene5.png']);

    // K keeps the focused image and removes the other; Ctrl+Z restores it.
    await page.locator('[data-testid=cell]:has(img[alt="mirror.png"])').click();
    await page.keyboard.press('k');
    await expect.poll(() => page.locator('[data-testid=cell]').count()).toBe(1);
    expect(await cellName(page, 0)).toBe('mirror.png');
    await page.keyboard.press('Control+z');
    await expect.poll(() => page.locator('[data-testid=cell]').count()).toBe(2);

    // D dismisses the finding (the next opens); Ctrl+Z shows it again.
    await page.keyboard.press('d');
    await expect.poll(() => findings.count()).toBe(total - 1);
    expect(await findings.first().textContent()).not.toMatch(/Leak/);
    await page.keyboard.press('Control+z');
    await expect.poll(() => findings.count()).toBe(total);
    expect(await findings.first().textContent()).toMatch(/Leak/);

    expect(problems).toEqual([]);
    await browser.close();
    // Everything undone is undone on disk too (the CLI opens the project once the server let go).
    await stop(server);
    expect(leakOnDisk(dir)).toEqual(['test/cat/mirror.png', 'train/cat/scene5.png']);
  }, 120_000);

  it('shows more like an image, the altered copy first, where a labeling key labels it; and more like a chosen file', async () => {
    const env = await tinyBackboneHere();
    const dir = path.join(tempDir(), 'similar.loupe');
    expect(loupe(['create', dir]).status).toBe(0);
    expect(loupe(['import', dir, await similarFolder()]).status).toBe(0);
    const project = Project.open(dir);
    await cacheTinyFeatures(project);
    project.close();

    const server = await serve(['--project', dir], env);
    const browser = await launch();
    const { page, problems } = await newPage(browser);
    await page.goto(server.openUrl);
    await cell(page, 0).locator('img').waitFor();
    await page.locator('[data-testid=cell]:has(img[alt="scene7.png"])').click();
    await page.keyboard.press('m');
    await expect.poll(() => page.getByTestId('similar-title').textContent()).toBe('scene7.png');
    await expect.poll(() => cellName(page, 0)).toBe('copy.jpg');
    await expect.poll(() => page.getByTestId('similar-bar').textContent()).toMatch(/by tinynet at 32 px features/);
    // The labeling keys work here: 2 labels the copy dog (it was cat).
    await expect.poll(() => cellLabel(page, 0)).toBe('cat');
    await page.keyboard.press('2');
    await expect.poll(() => cellLabel(page, 0)).toBe('dog');

    // A file from outside the project: its original and the copy first.
    const file = path.join(tempDir(), 'outside.png');
    fs.writeFileSync(file, await sharp(await png(scene(8))).resize(48, 48).png().toBuffer());
    await page.getByTestId('similar-leave').click();
    await page.getByTestId('more-like-file-input').setInputFiles(file);
    await expect.poll(() => page.getByTestId('similar-title').textContent()).toBe('outside.png');
    await expect.poll(async () => [await cellName(page, 0), await cellName(page, 1)].sort()).toEqual(['copy.jpg', 'scene7.png']);
    expect(problems).toEqual([]);
    await browser.close();

    // On disk: the copy is labeled dog; `loupe similar` finds the same from the file.
    await stop(server);
    const r = spawnSync(process.execPath, [cliPath, 'similar', dir, file, '--limit', '2', '--json'], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect(r.status, r.stderr).toBe(0);
    const similar = JSON.parse(r.stdout);
    expect(similar.similar.map((s: { name: string }) => s.name).sort()).toEqual(['copy.jpg', 'scene7.png']);
    expect(similar.similar.find((s: { name: string }) => s.name === 'copy.jpg').label).toBe('dog');
  }, 120_000);
});
