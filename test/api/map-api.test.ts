// The map over the API: a `map` job with progress and Cancel (a cancelled layout keeps nothing),
// one at a time per project, and mapPoints' packed arrays, which follow labels and splits changed
// through the labeling API.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAP_PREDICTION_SOURCES, type JobProgress, type MapLayoutResult } from '../../src/shared/types';
import { unpackFloat32, unpackInt32, unpackUint8 } from '../../src/shared/packed';
import { makeStudio, tempDir } from '../helpers';
import { makeClusteredProject } from '../map-fixtures';
import { client, finished } from './api-helpers';

describe('the map over the API', () => {
  it('lays out as a job with progress, can be cancelled, and sends every point packed', async () => {
    const dir = path.join(tempDir(), 'map.loupe');
    const { ids } = await makeClusteredProject(dir, { count: 300, classes: ['a', 'b', 'c'], clusters: 3, label: (i) => (i % 2 ? ['a', 'b', 'c'][i % 3] : undefined) });
    const c = client(makeStudio());
    const summary = await c.api.openProject({ path: dir });
    expect(await c.api.mapPoints()).toMatchObject({ layout: null, count: 0, reason: 'The map of tiny at 64 px is not laid out yet.' });

    const cancelled = await c.api.startMapLayout();
    await expect(c.api.startMapLayout()).rejects.toMatchObject({ code: 'BUSY' });
    await c.api.cancelJob({ jobId: cancelled.jobId });
    expect(await finished(c, cancelled.jobId)).toMatchObject({ kind: 'map', status: 'cancelled' });
    expect((await c.api.mapPoints()).layout).toBeNull();

    const { jobId } = await c.api.startMapLayout({ seed: 4 });
    const job = await finished(c, jobId);
    expect(job).toMatchObject({ kind: 'map', status: 'completed' });
    expect(job.result as MapLayoutResult).toMatchObject({ backbone: 'tiny at 64 px', laidOut: 300, placed: 0, withoutFeatures: 0 });
    const progress = c.events.filter((e) => e.name === 'onJobProgress' && (e.payload as JobProgress).jobId === jobId).map((e) => e.payload as JobProgress);
    expect(progress.some((p) => p.phase === 'Laying out' && p.total === 500)).toBe(true);

    const points = await c.api.mapPoints();
    expect(points).toMatchObject({ count: 300, reason: null, runId: null, withoutFeatures: 0, notPlaced: 0 });
    expect(points.layout).toMatchObject({ backbone: 'tiny at 64 px', seed: 4, neighbours: 15, epochs: 500 });
    const pointIds = unpackInt32(points.ids);
    expect([...pointIds].sort((x, y) => x - y)).toEqual([...ids].sort((x, y) => x - y));
    expect(unpackFloat32(points.xy)).toHaveLength(600);
    const labels = unpackInt32(points.labels);
    const classId = new Map(summary.classes.map((k) => [k.name, k.id]));
    pointIds.forEach((id, i) => {
      const k = ids.indexOf(id);
      expect(labels[i]).toBe(k % 2 ? classId.get(['a', 'b', 'c'][k % 3]) : -1);
    });
    // No run yet: no predictions, and nothing claims to be one.
    expect(unpackUint8(points.predictionSource).every((s) => MAP_PREDICTION_SOURCES[s] === 'none')).toBe(true);
    expect(unpackInt32(points.predicted).every((p) => p === -1)).toBe(true);

    // Labels and splits set through the labeling API are what the map shows next.
    await c.api.setLabel({ imageIds: [ids[0], ids[2]], classId: classId.get('c')! });
    await c.api.moveToSplit({ imageIds: [ids[0]], split: 'test' });
    const again = await c.api.mapPoints();
    const at = (id: number) => [...unpackInt32(again.ids)].indexOf(id);
    expect(unpackInt32(again.labels)[at(ids[0])]).toBe(classId.get('c'));
    expect(unpackInt32(again.labels)[at(ids[2])]).toBe(classId.get('c'));
    expect(unpackUint8(again.splits)[at(ids[0])]).toBe(2);
    expect(unpackFloat32(again.xy)).toEqual(unpackFloat32(points.xy));

    // Laying out again, cancelled while it optimises: the worker stops, and the map stays as it was.
    const redo = await c.api.startMapLayout({ recompute: true, seed: 9, epochs: 2000 });
    await c.next('onJobProgress', (p) => p.jobId === redo.jobId && p.phase === 'Laying out');
    await c.api.cancelJob({ jobId: redo.jobId });
    expect(await finished(c, redo.jobId)).toMatchObject({ kind: 'map', status: 'cancelled' });
    const kept = await c.api.mapPoints();
    expect(kept.layout?.seed).toBe(4);
    expect(unpackFloat32(kept.xy)).toEqual(unpackFloat32(points.xy));
  }, 120_000);
});
