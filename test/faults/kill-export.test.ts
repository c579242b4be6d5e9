// kill -9 at seeded random moments during `loupe export` (ONNX + TF.js + zip). After each kill
// the project opens, SQLite finds it sound, the export is recorded as failed (not running), and
// once the project is open again the chosen folder holds only complete exports: the staging
// folder and temporary zip a kill leaves are swept.
// Exporting again then succeeds.

import fs from 'node:fs';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { listExports } from '../../src/main/services/export/records';
import { runTraining } from '../../src/main/services/training/train';
import { Project } from '../../src/main/store/project';
import { tempDir } from '../helpers';
import { makePatternProject } from '../services/training/train-helpers';
import { expectIntact, killAfter, seededRandom, startCli, waitFor } from './fault-helpers';

const TRIALS = Number(process.env.LOUPE_FAULT_TRIALS ?? 20);
const SEED = Number(process.env.LOUPE_FAULT_SEED ?? 20261130);
const EXPORT = (dir: string, out: string) => ['export', dir, '--format', 'all', '--out', out, '--zip', '--json'];
/** What the CLI prints when the export's work begins. */
const START = /Converting to ONNX/;
const FILES = ['labels.txt', 'model-card.md', 'model.onnx', 'preprocess.json', 'tfjs/model.json', 'tfjs/weights.bin'];

/** Whatever is under an export's own name is complete: the folder has every file, the zip unpacks. */
function expectOnlyCompleteExports(out: string): string[] {
  const visible = fs.readdirSync(out).filter((n) => !n.startsWith('.'));
  for (const name of visible) {
    const full = path.join(out, name);
    if (name.endsWith('.zip')) {
      const entries = Object.keys(unzipSync(new Uint8Array(fs.readFileSync(full))));
      for (const f of FILES) expect(entries, `${name} holds ${f}`).toContain(`${name.slice(0, -4)}/${f}`);
    } else {
      for (const f of FILES) expect(fs.statSync(path.join(full, f)).size, `${name}/${f}`).toBeGreaterThan(0);
      expect(JSON.parse(fs.readFileSync(path.join(full, 'preprocess.json'), 'utf8'))).toHaveProperty('width');
    }
  }
  return visible;
}

describe('kill -9 during an export', () => {
  it(`leaves no half-written export and a sound project (${TRIALS} kills, seed ${SEED})`, { timeout: 600_000 }, async () => {
    const base = path.join(tempDir(), 'base.loupe');
    await makePatternProject(base, { perClass: 30, size: 8 });
    const trained = Project.open(base);
    await runTraining(trained, { arch: 'mlp', width: 8, height: 8, epochs: 2, seed: 1, workers: 1 });
    trained.close();

    // How long an export's work takes here (kills are spread over it).
    const calibration = path.join(tempDir(), 'calibration.loupe');
    fs.cpSync(base, calibration, { recursive: true });
    const full = startCli(EXPORT(calibration, tempDir('loupe-out-')));
    await waitFor(full, full.stderr, START);
    const t0 = performance.now();
    expect((await full.exited).code, full.stderr()).toBe(0);
    const workMs = performance.now() - t0;
    expect(JSON.parse(full.stdout())).toMatchObject({ status: 'completed' });

    const random = seededRandom(SEED);
    const outcomes: string[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const dir = path.join(tempDir(), `trial-${trial}.loupe`);
      fs.cpSync(base, dir, { recursive: true });
      const out = tempDir('loupe-out-');
      const delayMs = Math.round(random() * workMs * 1.1);
      const child = startCli(EXPORT(dir, out));
      await waitFor(child, child.stderr, START);
      const killed = await killAfter(child, delayMs);
      if (!killed) expect((await child.exited).code, child.stderr()).toBe(0);

      // What the kill left: a hidden staging folder (".<name>.partial-…"), a "<name>.zip.partial".
      const leftovers = fs.readdirSync(out).filter((n) => n.startsWith('.') || n.endsWith('.partial')).length;
      expectIntact(dir);
      const project = Project.open(dir);
      try {
        // Opening the project swept them: only complete exports remain, nothing hidden.
        const visible = expectOnlyCompleteExports(out);
        expect(fs.readdirSync(out).filter((n) => n.startsWith('.') || n.endsWith('.partial')), 'leftovers after reopening').toEqual([]);
        const exports = listExports(project.db);
        expect(exports.filter((e) => e.status === 'running'), 'an export cut off with its process is not left running').toEqual([]);
        if (!killed) expect(exports.map((e) => e.status)).toEqual(['completed']);
        outcomes.push(`${exports[0]?.status ?? 'none'}/${visible.length ? visible.map((v) => (v.endsWith('.zip') ? 'zip' : 'folder')).join('+') : 'nothing'}${leftovers ? `+${leftovers} swept` : ''}(${delayMs}ms)`);
      } finally {
        project.close();
      }
      // Exporting again works (every few trials, to keep the suite short).
      if (trial % 5 === 4) {
        const again = startCli(EXPORT(dir, out));
        expect((await again.exited).code, again.stderr()).toBe(0);
        expect(JSON.parse(again.stdout())).toMatchObject({ status: 'completed' });
        expectOnlyCompleteExports(out);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
    console.log(`[faults] export kill -9: ${TRIALS} kills (seed ${SEED}; an export's work took ${Math.round(workMs)} ms); status/visible output after each: ${outcomes.join(', ')}`);
    expect(outcomes.filter((o) => o.startsWith('failed')).length).toBeGreaterThanOrEqual(Math.ceil(TRIALS / 4));
  });
});
