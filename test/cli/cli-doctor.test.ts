// `loupe doctor`, run the way a script runs it (the built CLI): the JSON shape scripts read,
// leaks first, and the text that says what was checked without a backbone.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliPath, tempDir } from '../helpers';
import { knownProblemsFolder } from '../services/doctor/doctor-helpers';

function loupe(args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env: { ...process.env, LOUPE_HOME: tempDir('loupe-home-') } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('loupe doctor', () => {
  it('prints the findings, leaks first, as one JSON object of the documented shape', async () => {
    const dir = path.join(tempDir(), 'doctor.loupe');
    expect(loupe(['create', dir]).code).toBe(0);
    const imported = loupe(['import', dir, await knownProblemsFolder()]);
    expect(imported.code, imported.stderr).toBe(0);

    const run = loupe(['doctor', dir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    const report = JSON.parse(run.stdout);
    expect(Object.keys(report)).toEqual(['images', 'seconds', 'checks', 'findings']);
    expect(report.images).toBe(35);
    expect(report.seconds).toBeGreaterThan(0);
    expect(report.checks.map((c: { check: string }) => c.check)).toEqual([
      'nearDuplicate',
      'blurry',
      'tooDark',
      'tooBright',
      'lowInformation',
      'greyscale',
      'oddSize',
      'oddAspect',
      'classImbalance',
      'outlier',
      'classInTwo',
      'labelError',
    ]);
    // Every finding, of every check, has exactly the documented keys.
    for (const f of report.findings) {
      expect(Object.keys(f)).toEqual(['check', 'score', 'crossSplit', 'images']);
      for (const i of f.images) expect(Object.keys(i)).toEqual(['id', 'name', 'split', 'label']);
    }
    expect(Object.keys(report.checks[0])).toEqual(['check', 'count']);
    expect(Object.keys(report.findings[0])).toEqual(['check', 'score', 'crossSplit', 'images']);
    expect(Object.keys(report.findings[0].images[0])).toEqual(['id', 'name', 'split', 'label']);
    // The leak first: scene 5 in train and its mirror image in test, by the imported files' names.
    expect(report.findings[0]).toMatchObject({ check: 'nearDuplicate', crossSplit: true });
    expect(report.findings[0].images.map((i: { name: string; split: string; label: string }) => `${i.split}/${i.label}/${i.name}`).sort()).toEqual([
      'test/cat/mirror.png',
      'train/cat/scene5.png',
    ]);
    expect(report.findings.filter((f: { crossSplit: boolean }) => f.crossSplit)).toHaveLength(1);
    const counts = Object.fromEntries(report.checks.map((c: { check: string; count: number }) => [c.check, c.count]));
    expect(counts).toMatchObject({ blurry: 1, tooDark: 1, tooBright: 1, lowInformation: 2, greyscale: 1, oddAspect: 1, classImbalance: 1 });
    expect(report.findings).toHaveLength(Object.values(counts).reduce((a: number, b) => a + (b as number), 0));

    const text = loupe(['doctor', dir]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^Checked 35 images in .* \(0 read now\)\./);
    expect(text.stdout).toMatch(/No cached backbone features\. Without a backbone the doctor checks near-duplicates by perceptual hash/);
    expect(text.stdout).toMatch(/Cropped copies need a backbone’s features/);
    expect(text.stdout.split('\n')[3]).toMatch(/^ {2}LEAK nearDuplicate 1\.00: 2 near-identical images in (train and test|test and train)/);
    expect(text.stdout).not.toMatch(/test accuracy/);

    // After a run: what the leak does to its test score (mirror.png is its only scored test image).
    const train = loupe(['train', dir, '--arch', 'mlp', '--size', '8', '--epochs', '2', '--json']);
    expect(train.code, train.stderr).toBe(0);
    const { runId } = JSON.parse(train.stdout);
    const after = loupe(['doctor', dir]);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toMatch(new RegExp(`^Run #${runId}'s test accuracy is (0\\.0|100\\.0)% on 1 image; 1 of them has a near-copy among its training images \\((0\\.0|100\\.0)% on it\\)\\.$`, 'm'));
  }, 90_000);

  it('refuses a folder that is not a project, with a usage error for no folder', () => {
    expect(loupe(['doctor']).code).toBe(2);
    const none = loupe(['doctor', tempDir()]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).not.toBe('');
  });
});
