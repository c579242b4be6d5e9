// The import's footprint in the store: schema v2 on top of v1, recovery when a project is opened
// after a crash, and the per-file fsync fallback.

import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createImport, pendingImports } from '../../../src/main/services/import';
import { uploadsDir } from '../../../src/main/services/import/paths';
import { APPLICATION_ID } from '../../../src/main/store/database';
import { mediaRelPath } from '../../../src/main/store/media';
import { MIGRATIONS, SCHEMA_VERSION } from '../../../src/main/store/migrations';
import { Project } from '../../../src/main/store/project';
import { client } from '../../api/api-helpers';
import { makeStudio, onCleanup, tempDir } from '../../helpers';
import { folder, importInto, imagesOf, newProject, tempFiles } from './import-helpers';

describe('schema v2', () => {
  it('upgrades a v1 project in place: its data stays, imports are recorded, a split seed is drawn', () => {
    const dir = path.join(tempDir(), 'old.loupe');
    fs.mkdirSync(dir);
    const db = new Database(path.join(dir, 'project.db'));
    db.pragma(`application_id = ${APPLICATION_ID}`);
    MIGRATIONS[0].up(db);
    db.pragma('user_version = 1');
    db.prepare(
      `INSERT INTO images (hash, ext, format, width, height, channels, bytes, original_name, split, added_at)
       VALUES (?, 'png', 'png', 1, 1, 1, 1, 'x.png', 'val', 0)`,
    ).run('a'.repeat(64));
    db.close();

    const project = Project.open(dir);
    onCleanup(() => project.close());
    expect(project.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(project.db.prepare('SELECT split FROM images').pluck().all()).toEqual(['val']);
    expect(project.db.prepare("SELECT value FROM meta WHERE key = 'split_seed'").pluck().get()).toMatch(/^[0-9a-f]{16}$/);
    expect(project.db.prepare('SELECT count(*) FROM imports').pluck().get()).toBe(0);
  });
});

describe('recovery on open', () => {
  it('marks a dead process’s running import interrupted and deletes temp files and stale uploads', async () => {
    const dir = path.join(tempDir(), 'crashed.loupe');
    const before = Project.create(dir);
    const importId = createImport(before.db, [{ kind: 'path', path: '/nowhere' }]);
    const kept = createImport(before.db, [{ kind: 'upload', uploadId: 'b'.repeat(32) }]);
    before.db.prepare("UPDATE imports SET status = 'cancelled' WHERE id = ?").run(kept);
    before.close();
    fs.mkdirSync(path.join(dir, 'media', 'ab'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'media', 'ab', `${'ab'.repeat(32)}.png.1-2-3.part`), 'half a file');
    fs.writeFileSync(path.join(dir, 'media', 'ab', `${'ab'.repeat(32)}.png`), 'kept: only temp files go');
    for (const id of ['a'.repeat(32), 'b'.repeat(32)]) fs.mkdirSync(path.join(uploadsDir(dir), id), { recursive: true });

    const c = client(makeStudio());
    await c.api.openProject({ path: dir });
    expect(tempFiles(dir)).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'media', 'ab'))).toEqual([`${'ab'.repeat(32)}.png`]);
    // The upload a pending import still needs stays; the orphan goes.
    expect(fs.readdirSync(uploadsDir(dir))).toEqual(['b'.repeat(32)]);
    const pending = await c.api.pendingImports();
    expect(pending.map((p) => [p.importId, p.status])).toEqual([
      [importId, 'interrupted'],
      [kept, 'cancelled'],
    ]);
    await c.api.discardImport({ importId: kept });
    expect(fs.existsSync(path.join(uploadsDir(dir), 'b'.repeat(32)))).toBe(false);
    expect((await c.api.pendingImports()).map((p) => p.importId)).toEqual([importId]);
  });
});

describe('per-file durability (where syncfs is not available)', () => {
  const saved = process.env.LOUPE_SYNC;
  afterEach(() => {
    if (saved === undefined) delete process.env.LOUPE_SYNC;
    else process.env.LOUPE_SYNC = saved;
  });

  it('writes, fsyncs and renames each file, with the same result', async () => {
    process.env.LOUPE_SYNC = 'file';
    const project = newProject();
    const report = await importInto(project, [await folder({ 'cat/a.png': 1, 'dog/b.jpg': 2 })]);
    expect(report.imported).toBe(2);
    for (const i of imagesOf(project)) {
      const bytes = fs.readFileSync(path.join(project.root, mediaRelPath(i.hash, i.ext)));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(i.hash);
    }
    expect(pendingImports(project.db)).toEqual([]);
  });
});
