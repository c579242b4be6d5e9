// `loupe map`, run the way a script runs it (the built CLI): lays out, then places only what is
// new; without cached features it says the map needs a backbone.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeFixtureProject } from '../fixtures';
import { cliPath, tempDir } from '../helpers';
import { makeClusteredProject } from '../map-fixtures';

function loupe(args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env: { ...process.env, LOUPE_HOME: tempDir('loupe-home-') } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('loupe map', () => {
  it('lays out the map, then has nothing new to place; without features it says what the map needs', async () => {
    const dir = path.join(tempDir(), 'map.loupe');
    await makeClusteredProject(dir, { count: 60, clusters: 3 });
    const first = loupe(['map', dir, '--seed', '3', '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ backbone: 'tiny at 64 px', laidOut: 60, placed: 0, withoutFeatures: 0 });
    const again = loupe(['map', dir]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^Placed 0 new images by tiny at 64 px features in /);
    expect(loupe(['map', dir, '--epochs', '5']).stderr).toContain('epochs');

    const plain = path.join(tempDir(), 'plain.loupe');
    await makeFixtureProject(plain, { count: 5 });
    const refused = loupe(['map', plain]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('no cached backbone features yet');
  }, 120_000);
});
