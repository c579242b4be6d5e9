// A full disk (a small tmpfs, filled up) during an import, during labeling and during training:
// a clear error, a project that opens and checks out, and the work done before the error kept.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApi } from '../../src/main/api/create-api';
import { dispatch, toErrorPayload } from '../../src/main/api/dispatch';
import { createImport, importReport, pendingImports, runImport } from '../../src/main/services/import';
import { listRuns } from '../../src/main/services/training/records';
import { runTraining } from '../../src/main/services/training/train';
import { Project } from '../../src/main/store/project';
import { makeStudio, onCleanup, tempDir } from '../helpers';
import { makePatternProject } from '../services/training/train-helpers';
import { canMount, expectIntact, fillDisk, freeBytes, MOUNT_SKIP_REASON, tmpfs } from './fault-helpers';
import { noisePngs } from './images';

const DISK_FULL = /disk is full|no space left|ENOSPC|SQLITE_FULL|database or disk is full/i;

// Without root and mount(8) these are reported as skipped, the reason in the suite's name.
describe.skipIf(!canMount)(`a full disk${canMount ? '' : ` (${MOUNT_SKIP_REASON})`}`, () => {
  it('during an import: a clear error, the batches before it kept, and a resume completes it', { timeout: 120_000 }, async () => {
    const src = tempDir('loupe-src-');
    const hashes = noisePngs(src, 240, { size: 48, classes: ['red', 'green', 'blue'] });
    const disk = tmpfs('24m');
    const dir = path.join(disk, 'p.loupe');
    Project.create(dir).close();
    const project = Project.open(dir);
    let closed = false;
    onCleanup(() => void (closed || project.close()));
    const importId = createImport(project.db, [{ kind: 'path', path: src }]);
    // The disk fills up right after the first batch is saved, leaving room for a few more files.
    let filler = '';
    const onCommit = () => void (filler ||= fillDisk(disk, 200_000));
    const error = await runImport(project, importId, { batchSize: 16, workers: 1, onCommit }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(error, 'the import must fail, not skip every file as unreadable').not.toBeNull();
    expect(toErrorPayload(error)).toMatchObject({ code: 'DISK_FULL', message: expect.stringMatching(/disk is full/) });
    const report = importReport(project.db, importId);
    expect(report.skippedTotal, 'no file is blamed for the full disk').toBe(0);
    expect(project.db.pragma('integrity_check', { simple: true })).toBe('ok');
    project.close();
    closed = true;

    // Space again: the project checks out, keeps what was saved, and the same import resumes
    // and ends exactly where it should.
    fs.rmSync(filler);
    const { images } = expectIntact(dir);
    expect(images, 'the batches committed before the disk filled up are kept').toBeGreaterThanOrEqual(16);
    expect(images).toBeLessThan(240);
    const again = Project.open(dir);
    onCleanup(() => again.close());
    // Failed with why, or (when the disk was too full even for that) interrupted.
    expect(pendingImports(again.db)).toEqual([expect.objectContaining({ importId, status: expect.stringMatching(/^(failed|interrupted)$/) })]);
    const resumed = await runImport(again, importId, { batchSize: 16 });
    expect(resumed).toMatchObject({ status: 'completed', imported: 240, skippedTotal: 0, duplicates: 0 });
    const stored = again.db.prepare('SELECT hash FROM images').pluck().all() as string[];
    expect(new Set(stored)).toEqual(new Set(hashes));
    again.close();
    expectIntact(dir);
  });

  it('while labeling: each refused change says the disk is full, and nothing saved is lost', async () => {
    const disk = tmpfs('16m');
    const dir = path.join(disk, 'labels.loupe');
    await makePatternProject(dir, { perClass: 20, size: 8 });
    const studio = makeStudio();
    const api = createApi(studio.createSession(() => {}));
    await api.openProject({ path: dir });
    // As a window calls it: through the dispatcher that turns errors into data.
    const call = (method: 'setLabel', params: unknown) => dispatch(api, method, params);
    const ids = await api.imageIds({ filter: {} });
    const classes = (await api.projectSummary()).classes;
    await api.setLabel({ imageIds: ids.slice(0, 10), classId: classes[1].id });

    const filler = fillDisk(disk, 0);
    let refused = 0;
    for (let i = 10; i < 60; i++) {
      const reply = await call('setLabel', { imageIds: [ids[i]], classId: classes[i % classes.length].id });
      if (reply.ok) continue;
      expect(reply.error).toMatchObject({ code: 'DISK_FULL', message: expect.stringMatching(/disk is full/) });
      refused++;
    }
    expect(refused, 'a full disk refuses labels (none is shown as saved)').toBeGreaterThan(0);
    fs.rmSync(filler);
    await api.setLabel({ imageIds: [ids[0]], classId: classes[2].id });
    await api.closeProject();
    await studio.close();

    expectIntact(dir);
    const project = Project.open(dir);
    onCleanup(() => project.close());
    const label = (id: number) => project.db.prepare('SELECT class_id FROM labels WHERE image_id = ?').pluck().get(id);
    expect(label(ids[0])).toBe(classes[2].id);
    for (const id of ids.slice(1, 10)) expect(label(id)).toBe(classes[1].id);
  });

  it('while training preprocesses the images: a clear error, no run claimed, the project intact', { timeout: 120_000 }, async () => {
    const disk = tmpfs('16m');
    const dir = path.join(disk, 'train.loupe');
    await makePatternProject(dir, { perClass: 60, size: 32 });
    // About half of the decoded pixels (180 x 32 x 32 x 3 bytes) fit.
    const filler = fillDisk(disk, 300_000);
    const project = Project.open(dir);
    onCleanup(() => project.close());
    const error = await runTraining(project, { arch: 'mlp', epochs: 2, width: 32, height: 32, seed: 1, workers: 1 }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(error, 'training must stop on a full disk, not train on the images that happened to fit').not.toBeNull();
    expect(toErrorPayload(error)).toMatchObject({ code: 'DISK_FULL' });
    expect(listRuns(project.db).filter((r) => r.status === 'completed')).toEqual([]);
    project.close();
    expectIntact(dir);
    fs.rmSync(filler);
    expect(freeBytes(disk)).toBeGreaterThan(1_000_000);
  });

  it('while training saves its model: a clear error, no half-written model, the run not left running', { timeout: 120_000 }, async () => {
    const disk = tmpfs('16m');
    const dir = path.join(disk, 'save.loupe');
    await makePatternProject(dir, { perClass: 30, size: 16 });
    const project = Project.open(dir);
    onCleanup(() => project.close());
    // Decode the pixels first (a short run), then leave too little room for a 16x16 MLP's weights (~400 kB).
    await runTraining(project, { arch: 'mlp', epochs: 1, width: 16, height: 16, seed: 1, workers: 1 });
    const filler = fillDisk(disk, 150_000);
    const error = await runTraining(project, { arch: 'mlp', epochs: 3, width: 16, height: 16, seed: 1, workers: 1 }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(error).not.toBeNull();
    expect(toErrorPayload(error)).toMatchObject({ code: 'DISK_FULL' });
    const [latest, first] = listRuns(project.db);
    // With the disk full the run's end may not be recordable; then it is put right on the next open.
    expect(['failed', 'running']).toContain(latest.status);
    expect(latest.error ?? '').toMatch(latest.status === 'failed' ? DISK_FULL : /^$/);
    project.close();
    fs.rmSync(filler);
    expectIntact(dir);
    const reopened = Project.open(dir);
    onCleanup(() => reopened.close());
    const runs = listRuns(reopened.db);
    expect(runs.find((r) => r.id === latest.id)?.status).toMatch(/^(failed|interrupted)$/);
    expect(runs.find((r) => r.id === first.id)?.status).toBe('completed');
    // No half-written model: only complete model folders are left.
    for (const rel of fs.readdirSync(path.join(dir, 'models'), { recursive: true }) as string[]) expect(rel).not.toMatch(/\.tmp-/);
    await runTraining(reopened, { arch: 'mlp', epochs: 1, width: 16, height: 16, seed: 1, workers: 1 });
  });
});
