// kill -9 at seeded random moments during `loupe train` (a tiny MLP, so a run takes a second or
// two and the kills land in every phase: decoding the images, training, saving checkpoints,
// storing predictions). After each kill the project opens, SQLite finds it sound, the killed run
// is marked interrupted, no model folder is half-written, and the project trains again.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listRuns } from '../../src/main/services/training/records';
import { Project } from '../../src/main/store/project';
import { tempDir } from '../helpers';
import { makePatternProject } from '../services/training/train-helpers';
import { expectIntact, killAfter, seededRandom, startCli, waitFor } from './fault-helpers';

const TRIALS = Number(process.env.LOUPE_FAULT_TRIALS ?? 20);
const SEED = Number(process.env.LOUPE_FAULT_SEED ?? 20261130);
/** What the CLI prints when the run's work begins. */
const START = /Preparing images/;
const TRAIN = ['--arch', 'mlp', '--size', '8', '--epochs', '100', '--no-early-stop', '--workers', '1', '--seed', '3', '--json'];

/** A saved model folder is whole: its JSON parses and its weights file has every weight. */
export function expectWholeModel(dir: string): void {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as {
    weightsManifest: { weights: { shape: number[]; dtype: string }[] }[];
  };
  const floats = json.weightsManifest.flatMap((m) => m.weights).reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
  expect(fs.statSync(path.join(dir, 'weights.bin')).size, `${dir} holds every weight`).toBe(floats * 4);
}

describe('kill -9 during training', () => {
  it(`leaves the run interrupted and the project sound (${TRIALS} kills, seed ${SEED})`, { timeout: 600_000 }, async () => {
    const base = path.join(tempDir(), 'base.loupe');
    await makePatternProject(base, { perClass: 30, size: 8 });

    // How long a run's work takes here, from decoding the images to the end (kills are spread
    // over it; before it, the process only plans).
    const calibration = path.join(tempDir(), 'calibration.loupe');
    fs.cpSync(base, calibration, { recursive: true });
    const full = startCli(['train', calibration, ...TRAIN]);
    await waitFor(full, full.stderr, START);
    const t0 = performance.now();
    expect((await full.exited).code, full.stderr()).toBe(0);
    const workMs = performance.now() - t0;
    expect(JSON.parse(full.stdout())).toMatchObject({ status: 'completed', epochs: 100 });

    const random = seededRandom(SEED);
    const outcomes: string[] = [];
    /** The latest project whose run was interrupted, kept to train again at the end. */
    let lastKilled = '';
    for (let trial = 0; trial < TRIALS; trial++) {
      const dir = path.join(tempDir(), `trial-${trial}.loupe`);
      fs.cpSync(base, dir, { recursive: true });
      const delayMs = Math.round(random() * workMs * 1.05);
      const child = startCli(['train', dir, ...TRAIN]);
      await waitFor(child, child.stderr, START);
      const killed = await killAfter(child, delayMs);
      if (!killed) expect((await child.exited).code, child.stderr()).toBe(0);

      expectIntact(dir);
      const project = Project.open(dir);
      let interrupted = false;
      try {
        const runs = listRuns(project.db);
        expect(runs.length).toBeLessThanOrEqual(1);
        const run = runs[0];
        if (run) {
          // Killed: interrupted, unless the kill came after the run was recorded as complete.
          expect(run.status, 'a run killed with its process is marked interrupted').toMatch(killed ? /^(interrupted|completed)$/ : /^completed$/);
          interrupted = run.status === 'interrupted';
          if (interrupted) expect(run.error).toMatch(/stopped before it finished/);
          const epochs = project.db.prepare('SELECT count(*) FROM run_epochs WHERE run_id = ?').pluck().get(run.id) as number;
          expect(epochs).toBe(run.epochs);
          const modelDir = path.join(dir, 'models', String(run.id));
          const entries = fs.existsSync(modelDir) ? fs.readdirSync(modelDir) : [];
          expect(entries.filter((e) => e.includes('.tmp-')), 'half-written models are swept').toEqual([]);
          for (const e of entries) expectWholeModel(path.join(modelDir, e));
          if (run.status === 'completed') expectWholeModel(path.join(modelDir, 'model'));
          outcomes.push(`${run.status}@${run.epochs}(${delayMs}ms)`);
        } else outcomes.push(`before-run(${delayMs}ms)`);
      } finally {
        project.close();
      }
      if (interrupted) {
        if (lastKilled) fs.rmSync(lastKilled, { recursive: true, force: true });
        lastKilled = dir;
      } else fs.rmSync(dir, { recursive: true, force: true });
    }

    // A project whose run was killed trains again, to the end.
    expect(lastKilled, 'some kill landed during a run').not.toBe('');
    const again = startCli(['train', lastKilled, ...TRAIN]);
    expect((await again.exited).code, again.stderr()).toBe(0);
    expect(JSON.parse(again.stdout())).toMatchObject({ status: 'completed' });
    const project = Project.open(lastKilled);
    expect(listRuns(project.db).map((r) => r.status).sort()).toEqual(['completed', 'interrupted']);
    project.close();

    console.log(`[faults] training kill -9: ${TRIALS} kills (seed ${SEED}; a run's work took ${Math.round(workMs)} ms); run status@epochs after each: ${outcomes.join(', ')}`);
    expect(outcomes.filter((o) => o.startsWith('interrupted')).length).toBeGreaterThanOrEqual(Math.ceil(TRIALS / 4));
  });
});
