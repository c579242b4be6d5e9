// kill -9 at seeded random moments during a 5,000-image import (`loupe import`, as a user runs
// it). After every kill the project opens, SQLite finds it sound, every image row has its whole
// media file and no media file is half-written, nothing committed earlier is lost, and running
// the same command again resumes; each interrupted import ends exactly where an uninterrupted
// one ends (same images, labels and splits).

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Project } from '../../src/main/store/project';
import { tempDir } from '../helpers';
import { imagesOf } from '../services/import/import-helpers';
import { expectIntact, killAfter, seededRandom, startCli, waitFor } from './fault-helpers';
import { writePngs } from './images';

const IMAGES = 5000;
const KILLS = Number(process.env.LOUPE_FAULT_TRIALS ?? 20);
const SEED = Number(process.env.LOUPE_FAULT_SEED ?? 20261130);
const KILLS_PER_CHAIN = 5;

/** A project whose splits are seeded the same way every time, so outcomes can be compared. */
function newProject(dir: string): void {
  const project = Project.create(dir);
  project.db.prepare("UPDATE meta SET value = 'fault-seed' WHERE key = 'split_seed'").run();
  project.close();
}

function essence(dir: string, src: string): string[] {
  const project = Project.open(dir);
  try {
    return imagesOf(project)
      .map((i) => `${i.source.slice(src.length)} ${i.hash} ${i.label} ${i.split}`)
      .sort();
  } finally {
    project.close();
  }
}

describe('kill -9 during a 5,000-image import', () => {
  it(`leaves a sound, resumable project every time (${KILLS} kills, seed ${SEED})`, { timeout: 600_000 }, async () => {
    const src = tempDir('loupe-src-');
    writePngs(src, IMAGES, { classes: ['ant', 'bee', 'cow', 'doe'] });

    // The outcome of an uninterrupted import, and how long one takes here (kills are spread
    // over that time, so they land in every phase whatever the machine's speed).
    const refDir = path.join(tempDir(), 'ref.loupe');
    newProject(refDir);
    const t0 = performance.now();
    const ref = startCli(['import', refDir, src, '--json']);
    await waitFor(ref, ref.stderr, /Scanning/);
    const firstOutputMs = performance.now() - t0;
    expect((await ref.exited).code, ref.stderr()).toBe(0);
    const fullMs = performance.now() - t0;
    expect(JSON.parse(ref.stdout())).toMatchObject({ status: 'completed', imported: IMAGES });
    const reference = essence(refDir, src);

    const random = seededRandom(SEED);
    const trials: { delayMs: number; before: number; after: number }[] = [];
    const importMs = fullMs - firstOutputMs;
    let chains = 0;
    while (trials.length < KILLS) {
      // A chain: one import killed again and again, then run to its end.
      const dir = path.join(tempDir(), `chain-${chains++}.loupe`);
      newProject(dir);
      let imagesBefore = 0;
      for (let k = 0; k < KILLS_PER_CHAIN && trials.length < KILLS; k++) {
        // Kill somewhere from the end of start-up to the end of the work that is left.
        const left = (IMAGES - imagesBefore) / IMAGES;
        const delayMs = Math.round(firstOutputMs * 0.9 + random() * left * importMs * 1.1);
        const child = startCli(['import', dir, src, '--json']);
        if (!(await killAfter(child, delayMs))) {
          expect((await child.exited).code, child.stderr()).toBe(0);
          break; // it finished first
        }
        const { images } = expectIntact(dir);
        expect(images, 'nothing committed before the kill is lost').toBeGreaterThanOrEqual(imagesBefore);
        trials.push({ delayMs, before: imagesBefore, after: images });
        imagesBefore = images;
      }
      // The same command resumes the interrupted import and ends exactly where an uninterrupted one does.
      const last = startCli(['import', dir, src, '--json']);
      expect((await last.exited).code, last.stderr()).toBe(0);
      const final = JSON.parse(last.stdout());
      expect(final).toMatchObject({ status: 'completed', total: IMAGES, skippedTotal: 0 });
      // (All duplicates when the last kill landed after the import had completed: a new import.)
      expect(final.imported + final.duplicates).toBe(IMAGES);
      expect(essence(dir, src)).toEqual(reference);
      expect(expectIntact(dir).images).toBe(IMAGES);
      fs.rmSync(dir, { recursive: true, force: true });
    }

    const mid = trials.filter((t) => t.after > t.before && t.after < IMAGES).length;
    console.log(
      `[faults] import kill -9: ${trials.length} kills (seed ${SEED}; an uninterrupted import took ${Math.round(fullMs)} ms) over ${chains} import chains; ` +
        `${mid} landed after some progress and before the end; images at each kill: ${trials.map((t) => t.after).join(', ')}`,
    );
    // The kills must land inside imports, not only before or after them.
    expect(mid).toBeGreaterThanOrEqual(Math.ceil(KILLS / 4));
  });
});
