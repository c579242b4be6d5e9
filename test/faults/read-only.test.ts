// A project folder Loupe may not write to (a read-only disk, a folder of another user's) opens
// read-only with a clear message in the studio and `loupe status`, and commands that would write
// refuse it clearly. Nothing in the folder changes.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApi } from '../../src/main/api/create-api';
import { resolveMediaRequest } from '../../src/main/store/media';
import { Project } from '../../src/main/store/project';
import { makeFixtureProject } from '../fixtures';
import { makeStudio, onCleanup, repoRoot, snapshotDir, tempDir } from '../helpers';
import { canMount, isRoot, MOUNT_SKIP_REASON, readOnlyView, runCli } from './fault-helpers';

const CLASSES = ['cat', 'dog'];

async function fixture(): Promise<string> {
  const dir = path.join(tempDir(), 'shelf.loupe');
  await makeFixtureProject(dir, { count: 12, classes: CLASSES, label: (i) => (i % 3 === 0 ? undefined : CLASSES[i % 2]) });
  return dir;
}

/** Leaves committed changes in project.db-wal, as a crash (or a copy taken while open) does. */
function leaveWal(dir: string): void {
  const script = `
    const { default: Database } = await import(${JSON.stringify(path.join(repoRoot, 'node_modules/better-sqlite3/lib/index.js'))});
    const db = new Database(${JSON.stringify(path.join(dir, 'project.db'))});
    db.pragma('locking_mode = EXCLUSIVE'); db.pragma('journal_mode = WAL');
    db.exec("INSERT INTO classes (name, color, position, created_at) VALUES ('only-in-the-wal', '#123456', 9, 0)");
    process.kill(process.pid, 'SIGKILL');`;
  spawnSync(process.execPath, ['--input-type=module', '-e', script]);
  expect(fs.statSync(path.join(dir, 'project.db-wal')).size).toBeGreaterThan(0);
}

/** Everything a window does with a read-only project: it looks, and it is told it cannot change it. */
async function expectBrowsableReadOnly(dir: string, reason: RegExp): Promise<void> {
  const studio = makeStudio();
  const api = createApi(studio.createSession(() => {}));
  const summary = await api.openProject({ path: dir });
  expect(summary).toMatchObject({ readOnly: true, images: 12, labeled: 8, unlabeled: 4 });
  expect(summary.readOnlyReason).toMatch(reason);
  const ids = await api.imageIds({ filter: {} });
  expect(ids).toHaveLength(12);
  expect(await api.imagesById({ ids: ids.slice(0, 3) })).toHaveLength(3);
  const items = await api.imagesById({ ids: [ids[0]] });
  const project = studio.projectByKey(summary.key)!;
  expect(fs.readFileSync(resolveMediaRequest(project, `image/${items[0].hash}`).file).length).toBeGreaterThan(0);
  expect(await api.listRuns()).toEqual([]);

  const refused = { code: 'READ_ONLY', message: expect.stringMatching(/read-only/) };
  await expect(api.setLabel({ imageIds: [ids[0]], classId: null })).rejects.toMatchObject(refused);
  await expect(api.createClass({ name: 'bird' })).rejects.toMatchObject(refused);
  await expect(api.importPaths({ paths: [tempDir()] })).rejects.toMatchObject(refused);
  await expect(api.startTraining({})).rejects.toMatchObject(refused);
  await expect(api.saveTrainSettings({ overrides: { epochs: 5 } })).rejects.toMatchObject(refused);
  expect(await api.trainSettings()).toEqual({});
  await api.closeProject();
}

/** Without root and mount(8) the read-only-disk tests are reported as skipped, with why. */
const mountNote = canMount ? '' : ` (skipped: ${MOUNT_SKIP_REASON})`;

describe('a read-only project folder', () => {
  it.skipIf(!canMount)(`on a read-only disk opens read-only, says why, and changes nothing${mountNote}`, async () => {
    const dir = await fixture();
    const view = readOnlyView(dir);
    const before = snapshotDir(dir);

    // Commands that write refuse it with the reason (SQLite alone would say "database is locked").
    expect(() => Project.open(view)).toThrow(/is read-only \(it is on a read-only disk\), so Loupe cannot save changes to it/);
    const imported = runCli(['import', view, tempDir(), '--json']);
    expect(imported.status).toBe(1);
    expect(imported.stderr).toMatch(/is read-only \(it is on a read-only disk\)/);
    expect(imported.stdout).toBe('');

    await expectBrowsableReadOnly(view, /read-only disk/);
    const status = runCli(['status', view]);
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/read-only: it is on a read-only disk/);
    expect(JSON.parse(runCli(['status', view, '--json']).stdout)).toMatchObject({ images: 12, labeled: 8 });

    expect(snapshotDir(dir)).toEqual(before);
    expect(fs.readdirSync(tempDirRoot()).filter((n) => n.startsWith('loupe-readonly-'))).toEqual([]);
  });

  it.skipIf(!canMount)(`left by a crash (changes still in the WAL) shows those changes${mountNote}`, async () => {
    const dir = await fixture();
    leaveWal(dir);
    const view = readOnlyView(dir);
    const project = Project.open(view, { allowReadOnly: true });
    try {
      expect(project.readOnly).toBe(true);
      expect(project.db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(project.db.prepare("SELECT count(*) FROM classes WHERE name = 'only-in-the-wal'").pluck().get()).toBe(1);
    } finally {
      project.close();
    }
  });

  it.runIf(process.platform !== 'win32')('without write permission opens read-only for that user, and refuses writes', async () => {
    const dir = await fixture();
    // Readable by everyone, writable by its owner only. Root may write anywhere, so as root the
    // CLI runs as nobody; otherwise the folder is made read-only for its owner.
    const mode = isRoot ? { dir: 0o755, file: 0o644 } : { dir: 0o555, file: 0o444 };
    const all = ['', ...(fs.readdirSync(dir, { recursive: true }) as string[])].map((rel) => path.join(dir, rel));
    for (const file of all.reverse()) fs.chmodSync(file, fs.statSync(file).isDirectory() ? mode.dir : mode.file);
    onCleanup(() => {
      for (const file of all.reverse()) fs.chmodSync(file, 0o755);
    });
    if (isRoot) for (let up = path.dirname(dir); up !== '/'; up = path.dirname(up)) fs.chmodSync(up, fs.statSync(up).mode | 0o005);
    const before = snapshotDir(dir);
    const asNobody = isRoot ? { uid: 65534, gid: 65534 } : {};
    const status = runCli(['status', dir], asNobody);
    expect(status.status, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/read-only: this user may not write to /);
    const imported = runCli(['import', dir, tempDir(), '--json'], asNobody);
    expect(imported.status).toBe(1);
    expect(imported.stderr).toMatch(/is read-only \(this user may not write to .*\), so Loupe cannot save changes/);
    expect(snapshotDir(dir)).toEqual(before);
  });
});

function tempDirRoot(): string {
  return path.dirname(tempDir());
}
