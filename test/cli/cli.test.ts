// The built `loupe` command, run the way a user or a script runs it.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../src/main/store/migrations';
import { cliPath, repoRoot, tempDir } from '../helpers';
import { folder } from '../services/import/import-helpers';

function loupe(args: string[], env: Record<string, string> = {}) {
  const home = tempDir('loupe-home-');
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LOUPE_HOME: home, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, home };
}

describe('loupe CLI', () => {
  it('prints its version and help', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
    expect(loupe(['--version'])).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const help = loupe(['--help']);
    expect(help.code).toBe(0);
    for (const cmd of ['create', 'status', 'import', 'sample', 'serve']) expect(help.stdout).toContain(`loupe ${cmd}`);
  });

  it('runs through npx with nothing from npm on stderr, and refuses a Node.js older than it supports', () => {
    // npm warned "Unknown project config" on every npx loupe while .npmrc held onnxruntime's key.
    // Without scripts: where npm finds node_modules' lockfile out of date (the tests write caches
    // there), npx links the project itself and runs its `prepare`, rebuilding out/ under the
    // tests that run beside this one (in clean-clone CI runs a training worker's file was
    // missing for those seconds: "Cannot find module out/main/workers/train.worker.js").
    const npx = spawnSync('npx', ['--no-install', 'loupe', '--version'], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, npm_config_ignore_scripts: 'true' } });
    expect(npx.status).toBe(0);
    expect(npx.stderr).toBe('');
    expect(fs.existsSync(path.join(repoRoot, '.npmrc'))).toBe(false);
    // bin/node-check.js reads the version through process.versions; an old one is refused by name.
    const old = spawnSync(process.execPath, ['--input-type=module', '-e', `
      Object.defineProperty(process.versions, 'node', { value: '20.20.2' });
      const { requireSupportedNode } = await import(${JSON.stringify(path.join(repoRoot, 'bin', 'node-check.js'))});
      requireSupportedNode('loupe');`], { encoding: 'utf8' });
    expect(old.status).toBe(1);
    expect(old.stderr).toMatch(/^loupe: Loupe needs Node\.js \^22\.13\.0 .* scripts\/node-from-npm\.sh/);
  }, 120_000); // npx alone takes several seconds on a loaded machine

  it('creates a project and reports its empty summary as one JSON object', () => {
    const dir = path.join(tempDir(), 'a.loupe');
    const created = loupe(['create', dir]);
    expect(created.code).toBe(0);
    expect(created.stdout).toContain(dir);
    const status = loupe(['status', dir, '--json']);
    expect(status.code).toBe(0);
    expect(status.stderr).toBe('');
    expect(JSON.parse(status.stdout)).toEqual({
      path: dir,
      name: 'a',
      schemaVersion: SCHEMA_VERSION,
      images: 0,
      labeled: 0,
      unlabeled: 0,
      classes: [],
      splits: { train: 0, val: 0, test: 0 },
    });
    expect(status.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('adds created projects to the recent list shared with the studio', () => {
    const dir = path.join(tempDir(), 'r.loupe');
    const { home } = loupe(['create', dir, '--name', 'Recent one']);
    expect(fs.existsSync(path.join(home, 'app.db'))).toBe(true);
  });

  it('reports errors on stderr with a non-zero exit code', () => {
    const missing = loupe(['status', path.join(tempDir(), 'nope'), '--json']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/does not exist/);

    const notProject = loupe(['status', tempDir()]);
    expect(notProject.code).toBe(1);
    expect(notProject.stderr).toMatch(/not a Loupe project/);

    const usage = loupe(['status']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/Usage: loupe status/);

    const unknown = loupe(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown command/);

    const badFlag = loupe(['status', '.', '--nope']);
    expect(badFlag.code).toBe(2);

    const exists = tempDir();
    fs.writeFileSync(path.join(exists, 'x'), '');
    const occupied = loupe(['create', exists]);
    expect(occupied.code).toBe(1);
    expect(occupied.stderr).toMatch(/not empty/);
  });

  it('imports folders, printing progress on stderr and exactly one JSON object with --json', async () => {
    const dir = path.join(tempDir(), 'imp.loupe');
    expect(loupe(['create', dir]).code).toBe(0);
    const src = await folder({ 'cat/1.png': 1, 'cat/2.png': 2, 'dog/1.png': 3, 'dog/copy.png': 3, 'notes.jpg': Buffer.from('text') });
    const run = loupe(['import', dir, src, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ status: 'completed', imported: 3, duplicates: 1, skippedTotal: 1, createdClasses: ['cat', 'dog'] });
    expect(report.skipped).toEqual([{ path: path.join(src, 'notes.jpg'), reason: expect.stringMatching(/Not an image/) }]);
    expect(report.duplicateFiles).toEqual([{ path: path.join(src, 'dog', 'copy.png'), existing: path.join(src, 'dog', '1.png') }]);
    expect(run.stderr).toMatch(/Importing: 5\/5/);

    const status = JSON.parse(loupe(['status', dir, '--json']).stdout);
    expect(status).toMatchObject({ images: 3, labeled: 3, classes: [{ name: 'cat', count: 2 }, { name: 'dog', count: 1 }] });
    expect(status.splits.train + status.splits.val + status.splits.test).toBe(3);

    const again = loupe(['import', dir, src]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/0 imported, 4 duplicates, 1 skipped/);
    expect(again.stdout).toMatch(/skipped: ".*notes.jpg": Not an image/);

    const usage = loupe(['import', dir]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/Usage: loupe import/);
    const badSample = loupe(['sample', 'letters', path.join(tempDir(), 's.loupe')]);
    expect(badSample.code).toBe(2);
  });
});
