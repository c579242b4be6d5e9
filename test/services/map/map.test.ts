// The map's layout service: a seeded layout is reproducible, keeps clusters apart, is kept per
// features cache, and places images added later among their neighbours without moving the rest.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { layoutMap, mapPoints, MAP_NEEDS_BACKBONE } from '../../../src/main/services/map';
import { layoutPoints, layoutRow } from '../../../src/main/services/map/records';
import { Project } from '../../../src/main/store/project';
import { unpackFloat32, unpackInt32, unpackUint8 } from '../../../src/shared/packed';
import { MAP_PREDICTION_SOURCES } from '../../../src/shared/types';
import { makeFixtureProject } from '../../fixtures';
import { tempDir } from '../../helpers';
import { clusteredFeatures, imageHashes, makeClusteredProject, writeFeatureCache } from '../../map-fixtures';

const CLUSTERS = 4;

function points(project: Project) {
  const row = layoutRow(project.db, 'tiny@64')!;
  return new Map(layoutPoints(project.db, row.id).map((p) => [p.imageId, p]));
}

/** Share of points whose nearest other point on the map is in the same cluster. */
function clusterPurity(coords: Map<number, { x: number; y: number }>, clusterOf: (id: number) => number): number {
  const list = [...coords.entries()];
  let same = 0;
  for (const [id, p] of list) {
    let best = Infinity;
    let bestId = -1;
    for (const [other, q] of list) {
      if (other === id) continue;
      const d = (p.x - q.x) ** 2 + (p.y - q.y) ** 2;
      if (d < best) {
        best = d;
        bestId = other;
      }
    }
    if (clusterOf(bestId) === clusterOf(id)) same += 1;
  }
  return same / list.length;
}

describe('the map layout', () => {
  it('is the same for the same seed, keeps clusters apart, and is kept', async () => {
    const dir = path.join(tempDir(), 'map.loupe');
    const { ids } = await makeClusteredProject(dir, { count: 200, clusters: CLUSTERS });
    const clusterOf = (id: number) => ids.indexOf(id) % CLUSTERS;
    const project = Project.open(dir);
    try {
      const first = await layoutMap(project, { seed: 7 });
      expect(first).toMatchObject({ backbone: 'tiny at 64 px', laidOut: 200, placed: 0, withoutFeatures: 0 });
      const a = points(project);
      expect(a.size).toBe(200);
      expect(clusterPurity(a, clusterOf)).toBeGreaterThan(0.97);

      // Kept: asked again with nothing new, nothing moves.
      expect(await layoutMap(project, { seed: 7 })).toMatchObject({ laidOut: 0, placed: 0 });
      expect(points(project)).toEqual(a);

      // Laid out again with the same seed: the same picture; another seed: another one.
      await layoutMap(project, { seed: 7, recompute: true });
      expect(points(project)).toEqual(a);
      await layoutMap(project, { seed: 8, recompute: true });
      const c = points(project);
      expect([...c.values()].map((p) => p.x)).not.toEqual([...a.values()].map((p) => p.x));
      expect(clusterPurity(c, clusterOf)).toBeGreaterThan(0.97);
    } finally {
      project.close();
    }
  }, 120_000);

  it('places images added later beside their own cluster, without moving the others', async () => {
    const dir = path.join(tempDir(), 'grow.loupe');
    const { ids, hashes } = await makeClusteredProject(dir, { count: 240, clusters: CLUSTERS, withFeatures: 200 });
    const clusterOf = (id: number) => ids.indexOf(id) % CLUSTERS;
    const project = Project.open(dir);
    try {
      await layoutMap(project, { seed: 3 });
      const before = points(project);
      expect(before.size).toBe(200);
      expect(mapPoints(project)).toMatchObject({ count: 200, withoutFeatures: 40, notPlaced: 0 });

      // Features for all 240 now (as after Extract features): the same rows for the first 200.
      writeFeatureCache(dir, 'tiny', 64, hashes, clusteredFeatures(240, 16, CLUSTERS), 16);
      expect(mapPoints(project)).toMatchObject({ count: 200, withoutFeatures: 0, notPlaced: 40 });
      expect(await layoutMap(project)).toMatchObject({ laidOut: 0, placed: 40, withoutFeatures: 0 });
      const after = points(project);
      expect(after.size).toBe(240);
      for (const [id, p] of before) expect(after.get(id)).toEqual(p);
      // Each new point's nearest laid-out point is of its own cluster.
      const newIds = ids.slice(200);
      for (const id of newIds) {
        const p = after.get(id)!;
        expect(p.placed).toBe(1);
        let best = Infinity;
        let bestId = -1;
        for (const [other, q] of before) {
          const d = (p.x - q.x) ** 2 + (p.y - q.y) ** 2;
          if (d < best) [best, bestId] = [d, other];
        }
        expect(clusterOf(bestId)).toBe(clusterOf(id));
      }

      const packed = mapPoints(project);
      expect(packed.count).toBe(240);
      const idsOut = unpackInt32(packed.ids);
      const xy = unpackFloat32(packed.xy);
      expect(new Set(idsOut)).toEqual(new Set(ids));
      expect(Math.max(...xy.map(Math.abs))).toBeLessThanOrEqual(0.95 + 1e-6);
      expect(unpackUint8(packed.placed).reduce((s, v) => s + v, 0)).toBe(40);
    } finally {
      project.close();
    }
  }, 120_000);

  it('colours by the latest run’s held-out predictions and says which were made on a training image', async () => {
    const dir = path.join(tempDir(), 'pred.loupe');
    const { ids } = await makeClusteredProject(dir, { count: 40, classes: ['a', 'b'], clusters: 2, label: (i) => (i < 30 ? ['a', 'b'][i % 2] : undefined) });
    const project = Project.open(dir);
    try {
      await layoutMap(project);
      const db = project.db;
      const cls = new Map((db.prepare('SELECT id, name FROM classes').all() as { id: number; name: string }[]).map((c) => [c.name, c.id]));
      const classes = JSON.stringify([{ id: cls.get('a'), name: 'a' }, { id: cls.get('b'), name: 'b' }]);
      const run = (id: number, createdAt: number) =>
        db.prepare(`INSERT INTO runs (id, status, arch, backend, seed, plan, config, classes, created_at) VALUES (?, 'completed', 'mlp', 'cpu', 1, '{}', '{}', ?, ?)`).run(id, classes, createdAt);
      run(1, 1000);
      run(2, 2000);
      const predict = db.prepare("INSERT INTO predictions (run_id, image_id, split, true_index, predicted_index, confidence, probs) VALUES (?, ?, 'test', 0, ?, ?, x'')");
      predict.run(1, ids[9], 1, 0.9); // an older run: not shown
      predict.run(2, ids[19], 1, 0.75); // test image 19 (class b): predicted b, right
      predict.run(2, ids[29], 0, 0.6); // test image 29 (class b): predicted a, wrong
      // Suggestions on unlabeled images: one whose run never saw it, one its run trained on.
      db.prepare("INSERT INTO run_images (run_id, image_id, class_id, split) VALUES (2, ?, ?, 'train')").run(ids[31], cls.get('a'));
      const suggest = db.prepare("INSERT INTO suggestions (image_id, run_id, class_id, confidence, status, created_at) VALUES (?, 2, ?, ?, 'pending', 0)");
      suggest.run(ids[30], cls.get('a'), 0.8);
      suggest.run(ids[31], cls.get('b'), 0.7);

      const points = mapPoints(project);
      expect(points.runId).toBe(2);
      const order = [...unpackInt32(points.ids)];
      const predicted = unpackInt32(points.predicted);
      const confidence = unpackFloat32(points.confidence);
      const source = unpackUint8(points.predictionSource);
      const at = (k: number) => order.indexOf(ids[k]);
      const seen = (k: number) => ({ predicted: predicted[at(k)], confidence: Math.round(confidence[at(k)] * 100), source: MAP_PREDICTION_SOURCES[source[at(k)]] });
      expect(seen(19)).toEqual({ predicted: cls.get('b'), confidence: 75, source: 'heldOut' });
      expect(seen(29)).toEqual({ predicted: cls.get('a'), confidence: 60, source: 'heldOut' });
      expect(seen(9)).toEqual({ predicted: -1, confidence: 0, source: 'none' });
      expect(seen(30)).toEqual({ predicted: cls.get('a'), confidence: 80, source: 'suggestion' });
      expect(seen(31)).toEqual({ predicted: cls.get('b'), confidence: 70, source: 'trainedOn' });
      expect([...source].filter((v) => v !== 0)).toHaveLength(4);
    } finally {
      project.close();
    }
  }, 60_000);

  it('says that it needs a backbone where no features are cached', async () => {
    const dir = path.join(tempDir(), 'plain.loupe');
    await makeFixtureProject(dir, { count: 20 });
    expect(imageHashes(dir)).toHaveLength(20);
    const project = Project.open(dir);
    try {
      expect(mapPoints(project)).toMatchObject({ layout: null, reason: MAP_NEEDS_BACKBONE, count: 0, withoutFeatures: 20 });
      await expect(layoutMap(project)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: MAP_NEEDS_BACKBONE });
    } finally {
      project.close();
    }
  });
});
