// Measuring a backbone's extraction speed on this machine, from the front ends: over the API as
// a `backboneSpeed` job (progress, result, recorded per fingerprint, cancellable) and from the
// CLI (`loupe backbones measure NAME [--resolution PX]`). On the tiny test backbone, so it is fast.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackboneSpeedResult } from '../../../src/shared/types';
import { main } from '../../../src/main/cli/index';
import { resolveBackbone } from '../../../src/main/services/backbones/locate';
import { readSpeeds } from '../../../src/main/services/backbones/speed';
import { client, finished } from '../../api/api-helpers';
import { makeStudio, tempDir } from '../../helpers';
import { makePatternProject } from '../training/train-helpers';
import { makeTinyBackbone, TINY_ID, writeTinyRegistry } from './backbone-helpers';

const saved = { ...process.env };
let work: string;

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-speed-'));
  const source = path.join(work, 'backbones', TINY_ID);
  await makeTinyBackbone(source);
  const registry = path.join(work, 'backbones.json');
  writeTinyRegistry(registry, source);
  process.env.LOUPE_BACKBONE_REGISTRY = registry;
  process.env.LOUPE_BACKBONE_DIR = path.join(work, 'backbones');
}, 60_000);

afterAll(() => {
  process.env = { ...saved };
  fs.rmSync(work, { recursive: true, force: true });
});

describe('measuring a backbone\'s speed', () => {
  it('runs as a job over the API: progress per resolution, the speeds as its result, recorded for the backbone; cancellable', async () => {
    process.env.LOUPE_HOME = tempDir('loupe-home-');
    const dir = path.join(tempDir(), 'photos.loupe');
    await makePatternProject(dir, { perClass: 2, size: 16, seed: 3 });
    const c = client(makeStudio());
    await c.api.openProject({ path: dir });
    const { jobId } = await c.api.measureBackboneSpeed({ name: TINY_ID });
    const job = await finished(c, jobId);
    expect(job).toMatchObject({ kind: 'backboneSpeed', status: 'completed' });
    const result = job.result as BackboneSpeedResult;
    // The tiny registry backbone offers 16, 24 and 32 px.
    expect(result.speeds.map((s) => s.resolution)).toEqual([16, 24, 32]);
    expect(result.speeds.every((s) => s.imagesPerSecond > 0 && s.batch === 32)).toBe(true);
    expect(readSpeeds(resolveBackbone(TINY_ID).fingerprint)).toEqual(result.speeds);
    expect(c.events.some((e) => e.name === 'onJobProgress' && /Measuring TinyNet at 24x24/.test((e.payload as { phase: string }).phase))).toBe(true);
    // Cancelled: the job ends as such and records nothing more.
    const again = await c.api.measureBackboneSpeed({ name: TINY_ID, resolution: 20 });
    await c.api.cancelJob({ jobId: again.jobId });
    expect(await finished(c, again.jobId)).toMatchObject({ kind: 'backboneSpeed', status: 'cancelled' });
    expect(readSpeeds(resolveBackbone(TINY_ID).fingerprint).map((s) => s.resolution)).toEqual([16, 24, 32]);
  }, 120_000);

  it('runs from the CLI at one resolution, printing images per second', async () => {
    process.env.LOUPE_HOME = tempDir('loupe-home-');
    const out: string[] = [];
    const io = { out: (t: string) => out.push(t), err: () => {}, json: (v: unknown) => out.push(JSON.stringify(v)), interrupted: new Promise<void>(() => {}) };
    expect(await main(['backbones', 'measure', TINY_ID, '--resolution', '24', '--json'], io)).toBe(0);
    const result = JSON.parse(out[0]) as BackboneSpeedResult;
    expect(result).toMatchObject({ backbone: TINY_ID, speeds: [{ resolution: 24, batch: 32 }] });
    expect(readSpeeds(resolveBackbone(TINY_ID).fingerprint)).toEqual(result.speeds);
    out.length = 0;
    expect(await main(['backbones', 'measure', TINY_ID, '--resolution', '16'], io)).toBe(0);
    expect(out[0]).toMatch(/^tinynet at 16x16: \d+(\.\d)? images\/s \(batches of 32\)$/);
    expect(await main(['backbones', 'measure', TINY_ID, '--resolution', '5'], io)).not.toBe(0);
  }, 120_000);
});
