// kill -9 at seeded random moments while a client labels at full speed through the API (the
// real `loupe serve` and its WebSocket, as the browser uses it). Every label the API
// acknowledged must be on disk after the kill; the project opens and SQLite finds it sound.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Project } from '../../src/main/store/project';
import { makeFixtureProject } from '../fixtures';
import { tempDir } from '../helpers';
import { connectApi } from '../transport/ws-api';
import { expectIntact, killAfter, seededRandom, startCli, waitFor } from './fault-helpers';

const TRIALS = Number(process.env.LOUPE_FAULT_TRIALS ?? 20);
const SEED = Number(process.env.LOUPE_FAULT_SEED ?? 20261130);
const CLASSES = ['ant', 'bee', 'cow'];
const IMAGES = 4000;
const IN_FLIGHT = 8;

describe('kill -9 while labeling at full speed through the API', () => {
  it(`keeps every acknowledged label (${TRIALS} kills, seed ${SEED})`, { timeout: 600_000 }, async () => {
    const dir = path.join(tempDir(), 'labels.loupe');
    await makeFixtureProject(dir, { count: IMAGES, classes: CLASSES, distinct: 40 });
    const random = seededRandom(SEED);
    /** The class each image must have: its last acknowledged label. */
    const acked = new Map<number, number>();
    let nextImage = 1;
    const counts: number[] = [];

    for (let trial = 0; trial < TRIALS; trial++) {
      const server = startCli(['serve', '--project', dir]);
      await waitFor(server, server.stdout, /\?token=[\w-]+/);
      const openUrl = /(http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(server.stdout())![1];
      const client = await connectApi(openUrl);
      await client.value('openProject', { path: dir });
      const { classes } = await client.value<{ classes: { id: number }[] }>('projectSummary');

      // What may be on disk for an image whose label was sent but not acknowledged: either.
      const inFlight = new Map<number, number>();
      let stopped = false;
      let ackedThisTrial = 0;
      const labeler = async () => {
        while (!stopped) {
          // Mostly new images; sometimes a change of mind on one labeled before.
          const relabel = acked.size > 0 && random() < 0.2;
          const imageId = relabel ? [...acked.keys()][Math.floor(random() * acked.size)] : nextImage++;
          if (imageId > IMAGES || inFlight.has(imageId)) continue;
          const classId = classes[Math.floor(random() * classes.length)].id;
          inFlight.set(imageId, classId);
          try {
            await client.value('setLabel', { imageIds: [imageId], classId });
          } catch {
            return; // the server is gone
          }
          inFlight.delete(imageId);
          acked.set(imageId, classId);
          ackedThisTrial++;
        }
      };
      const labelers = Array.from({ length: IN_FLIGHT }, labeler);
      // Kill at a random moment once labels are flowing.
      await new Promise((r) => setTimeout(r, 20));
      expect(await killAfter(server, Math.round(random() * 400))).toBe(true);
      stopped = true;
      client.close();
      await Promise.all(labelers);
      counts.push(ackedThisTrial);

      expectIntact(dir, { mediaHashes: false });
      const project = Project.open(dir);
      try {
        const label = project.db.prepare('SELECT class_id FROM labels WHERE image_id = ?').pluck();
        for (const [imageId, classId] of acked) {
          const stored = label.get(imageId);
          const allowed = inFlight.has(imageId) ? [classId, inFlight.get(imageId)] : [classId];
          expect(allowed, `image ${imageId}: acknowledged class ${classId}, on disk ${String(stored)}`).toContain(stored);
        }
        // The history that undo reads is there for the labels too.
        expect(project.db.prepare('SELECT count(*) FROM actions').pluck().get()).toBeGreaterThanOrEqual(acked.size > 0 ? 1 : 0);
      } finally {
        project.close();
      }
      // A label in flight that did reach the disk is now the truth for the next trial.
      for (const [imageId] of inFlight) {
        const project = Project.open(dir);
        const stored = project.db.prepare('SELECT class_id FROM labels WHERE image_id = ?').pluck().get(imageId) as number | undefined;
        project.close();
        if (stored !== undefined) acked.set(imageId, stored);
        else acked.delete(imageId);
      }
    }
    console.log(
      `[faults] labeling kill -9: ${TRIALS} kills (seed ${SEED}); ${acked.size} images labeled in all; ` +
        `labels acknowledged per trial before the kill: ${counts.join(', ')}`,
    );
    expect(counts.filter((n) => n > 0).length).toBeGreaterThanOrEqual(Math.ceil(TRIALS / 2));
  });
});
