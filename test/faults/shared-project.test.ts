// The same project opened twice. Two windows of one Loupe (also through another spelling of the
// path) share it safely; a second Loupe process (the CLI, another app) is refused with a clear
// message while the first has it, and nothing is corrupted by the attempts.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApi } from '../../src/main/api/create-api';
import { Project } from '../../src/main/store/project';
import { makeFixtureProject } from '../fixtures';
import { makeStudio, tempDir } from '../helpers';
import { connectApi } from '../transport/ws-api';
import { expectIntact, runCli, startCli, waitFor } from './fault-helpers';

const LOCKED = /open in another Loupe window or process/;

describe('the same project opened twice', () => {
  it('by two windows of one Loupe (one through a symbolic link): shared, every change kept', async () => {
    const dir = path.join(tempDir(), 'shared.loupe');
    await makeFixtureProject(dir, { count: 400, classes: ['a', 'b', 'c'], distinct: 20 });
    const alias = path.join(tempDir(), 'alias.loupe');
    fs.symlinkSync(dir, alias);
    const studio = makeStudio();
    const events: string[] = [];
    const one = createApi(studio.createSession(() => {}));
    const two = createApi(studio.createSession((name) => events.push(name)));
    const a = await one.openProject({ path: dir });
    const b = await two.openProject({ path: alias });
    expect(b.key).toBe(a.key);
    expect(b.path).toBe(a.path);

    // Both label at once, on interleaved images.
    const ids = await one.imageIds({ filter: {} });
    const [ca, cb] = a.classes;
    await Promise.all([
      (async () => {
        for (const id of ids.filter((_, i) => i % 2 === 0)) await one.setLabel({ imageIds: [id], classId: ca.id });
      })(),
      (async () => {
        for (const id of ids.filter((_, i) => i % 2 === 1)) await two.setLabel({ imageIds: [id], classId: cb.id });
      })(),
    ]);
    // Each window hears of the other's changes.
    expect(events).toContain('onImagesChanged');
    expect((await two.projectSummary()).labeled).toBe(400);
    await one.closeProject();
    await two.closeProject();
    await studio.close();

    expectIntact(dir, { mediaHashes: false });
    const project = Project.open(dir);
    const byClass = project.db.prepare('SELECT class_id, count(*) AS n FROM labels GROUP BY class_id ORDER BY class_id').all();
    expect(byClass).toEqual([{ class_id: ca.id, n: 200 }, { class_id: cb.id, n: 200 }]);
    project.close();
  });

  it('by a second process while Loupe has it: refused clearly, and no harm done', { timeout: 120_000 }, async () => {
    const dir = path.join(tempDir(), 'held.loupe');
    await makeFixtureProject(dir, { count: 200, classes: ['a', 'b'], distinct: 20 });
    const app = startCli(['serve', '--project', dir]);
    await waitFor(app, app.stdout, /\?token=[\w-]+/);
    const openUrl = /(http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(app.stdout())![1];
    const { call, close } = await connectApi(openUrl);
    const opened = (await call('openProject', { path: dir })) as { ok: boolean; value: { classes: { id: number }[] } };
    expect(opened.ok).toBe(true);

    // The app keeps labeling while the others try to get in.
    let labeling = true;
    const acknowledged = new Map<number, number>();
    const labeler = (async () => {
      for (let i = 0; labeling; i++) {
        const id = (i % 200) + 1;
        const classId = opened.value.classes[(id + Math.floor(i / 200)) % 2].id;
        const reply = await call('setLabel', { imageIds: [id], classId });
        expect(reply.ok).toBe(true);
        acknowledged.set(id, classId);
      }
    })();

    const before = fs.statSync(path.join(dir, 'project.db')).size;
    for (const args of [['status', dir], ['import', dir, tempDir()], ['train', dir, '--epochs', '1']]) {
      const other = runCli(args);
      expect(other.status, args.join(' ')).toBe(1);
      expect(other.stderr).toMatch(LOCKED);
    }
    const secondApp = runCli(['serve', '--project', dir]);
    expect(secondApp.status).toBe(1);
    expect(secondApp.stderr).toMatch(LOCKED);
    expect(() => Project.open(dir)).toThrow(LOCKED);
    const studio = makeStudio();
    await expect(createApi(studio.createSession(() => {})).openProject({ path: dir })).rejects.toMatchObject({ code: 'PROJECT_LOCKED' });

    labeling = false;
    await labeler;
    close();
    app.proc.kill('SIGTERM');
    expect((await app.exited).code).toBe(0);
    expect(fs.statSync(path.join(dir, 'project.db')).size).toBeGreaterThanOrEqual(before);

    expectIntact(dir, { mediaHashes: false });
    const project = Project.open(dir);
    const stored = new Map(project.db.prepare('SELECT image_id, class_id FROM labels').raw().all() as [number, number][]);
    expect(stored).toEqual(acknowledged);
    project.close();
    // Free again once the app is gone.
    expect(runCli(['status', dir]).status).toBe(0);
  });
});
