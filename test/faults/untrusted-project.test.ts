// A project folder from elsewhere is untrusted input. Opening it must not run SQL planted in its
// database (triggers, views), SQLite's defensive settings must be on, and nothing stored in it
// (paths, upload ids, symbolic links among its folders) may lead Loupe outside the folder.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LoupeError } from '../../src/shared/errors';
import { createApi } from '../../src/main/api/create-api';
import { discardImport, runImport } from '../../src/main/services/import';
import { resolveMediaRequest } from '../../src/main/store/media';
import { Project } from '../../src/main/store/project';
import { makeStudio, onCleanup, snapshotDir, tempDir } from '../helpers';

function newClosedProject(): string {
  const dir = path.join(tempDir(), 'foreign.loupe');
  Project.create(dir).close();
  return dir;
}

/** Edits a closed project's database as an attacker would: with plain SQLite. */
function craft(dir: string, sql: string): void {
  const db = new Database(path.join(dir, 'project.db'));
  db.exec(sql);
  db.close();
}

/** The attacker's marker: a row the planted SQL writes if it ever runs. */
function fired(dir: string): boolean {
  const db = new Database(path.join(dir, 'project.db'), { readonly: true });
  try {
    return db.prepare("SELECT count(*) AS n FROM meta WHERE key LIKE 'pwned%'").pluck().get() !== 0;
  } finally {
    db.close();
  }
}

function refusal(fn: () => unknown): LoupeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LoupeError);
    return err as LoupeError;
  }
  throw new Error('expected the project to be refused');
}

// Work Loupe does on opening a project: a crashed import and a crashed run are marked interrupted.
const CRASH_LEFTOVERS = `
  INSERT INTO imports (status, sources, created_at, updated_at) VALUES ('running', '[]', 0, 0);
  INSERT INTO runs (status, arch, backend, seed, plan, config, classes, created_at)
    VALUES ('running', 'mlp', 'wasm', 1, '{}', '{}', '[]', 0);`;

describe('a crafted project.db', () => {
  const attacks: Record<string, string> = {
    'a trigger on the writes made when opening': `${CRASH_LEFTOVERS}
      CREATE TRIGGER evil AFTER UPDATE ON runs BEGIN INSERT INTO meta (key, value) VALUES ('pwned', 'open'); END;`,
    'a trigger on labeling': `
      CREATE TRIGGER evil_label AFTER INSERT ON labels BEGIN INSERT INTO meta (key, value) VALUES ('pwned-label', '1'); END;`,
    'a trigger that destroys data': `${CRASH_LEFTOVERS}
      CREATE TRIGGER wipe BEFORE UPDATE ON imports BEGIN DELETE FROM images; INSERT INTO meta (key, value) VALUES ('pwned-wipe', '1'); END;`,
    'a view standing in for a table': `
      CREATE TABLE real_meta AS SELECT * FROM meta;
      DROP TABLE meta;
      CREATE VIEW meta AS SELECT * FROM real_meta;
      CREATE TRIGGER meta_write INSTEAD OF INSERT ON meta BEGIN INSERT INTO real_meta VALUES ('pwned-view', '1'); END;`,
    'a trigger with a harmless-looking name, on removing images': `
      CREATE TRIGGER "images_live" AFTER UPDATE OF removed_at ON images BEGIN INSERT INTO meta (key, value) VALUES ('pwned-remove', '1'); END;`,
  };

  for (const [what, sql] of Object.entries(attacks)) {
    it(`is refused, untouched and without running its SQL: ${what}`, async () => {
      const dir = newClosedProject();
      craft(dir, sql);
      const before = snapshotDir(dir);

      const err = refusal(() => Project.open(dir));
      expect(err.code).toBe('NOT_A_PROJECT');
      expect(err.message).toMatch(/holds SQL that runs by itself .*(trigger|view).*Loupe did not open it/);
      expect(refusal(() => Project.open(dir, { readOnly: true })).code).toBe('NOT_A_PROJECT');

      // The same through the studio's API, as a window would open it.
      const studio = makeStudio();
      const api = createApi(studio.createSession(() => {}));
      await expect(api.openProject({ path: dir })).rejects.toMatchObject({ code: 'NOT_A_PROJECT' });

      expect(snapshotDir(dir)).toEqual(before);
      expect(fired(dir)).toBe(false);
    });
  }

  it('is opened with SQLite’s defensive settings', () => {
    const dir = newClosedProject();
    const project = Project.open(dir);
    onCleanup(() => project.close());
    const db = project.db;
    expect(db.pragma('trusted_schema', { simple: true })).toBe(0);
    expect(db.pragma('cell_size_check', { simple: true })).toBe(1);
    expect(db.pragma('mmap_size', { simple: true })).toBe(0);
    // SQLITE_DBCONFIG_DEFENSIVE: even with writable_schema, the schema cannot be rewritten.
    db.pragma('writable_schema = ON');
    expect(() => db.prepare("UPDATE sqlite_schema SET sql = 'CREATE TABLE x (y)' WHERE name = 'meta'").run()).toThrow(/may not be modified|not authorized|read-?only/i);
    db.pragma('writable_schema = OFF');
    // No extension loading from SQL.
    expect(() => db.prepare("SELECT load_extension('/tmp/evil.so')").get()).toThrow(/not authorized/);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('cannot make a media request leave the project through a stored extension or hash', () => {
    const dir = newClosedProject();
    const secret = path.join(path.dirname(dir), 'secret.txt');
    fs.writeFileSync(secret, 'TOP SECRET');
    const hash = 'a'.repeat(64);
    craft(
      dir,
      `INSERT INTO images (hash, ext, format, width, height, channels, bytes, original_name, source_path, split, added_at)
       VALUES ('${hash}', '../../../secret.txt', 'png', 1, 1, 3, 1, 'x.png', '${secret}', 'train', 0);`,
    );
    const project = Project.open(dir);
    onCleanup(() => project.close());
    for (const kind of ['image', 'thumb']) {
      const err = refusal(() => resolveMediaRequest(project, `${kind}/${hash}`));
      expect(['INVALID_PATH', 'NOT_FOUND', 'FORBIDDEN']).toContain(err.code);
    }
    expect(refusal(() => resolveMediaRequest(project, `image/../../secret.txt`)).code).toBe('FORBIDDEN');
  });

  it('cannot make Loupe delete or read outside the folder through a stored upload id', async () => {
    const dir = newClosedProject();
    const victim = path.join(path.dirname(dir), 'victim');
    fs.mkdirSync(victim);
    fs.writeFileSync(path.join(victim, 'keep.txt'), 'mine');
    const sources = JSON.stringify([{ kind: 'upload', uploadId: '../../../victim' }]);
    craft(dir, `INSERT INTO imports (status, sources, created_at, updated_at) VALUES ('interrupted', '${sources}', 0, 0);`);
    const project = Project.open(dir);
    onCleanup(() => project.close());
    expect(() => discardImport(project, 1)).toThrow(/Bad upload id/);
    await expect(runImport(project, 1)).rejects.toThrow(/Bad upload id/);
    expect(fs.readFileSync(path.join(victim, 'keep.txt'), 'utf8')).toBe('mine');
  });

  describe('with a folder that is a symbolic link out of the project', () => {
    const links: Record<string, string> = {
      'tmp/uploads': 'tmp/uploads',
      tmp: 'tmp',
      media: 'media',
      'a media shard': 'media/ab',
      thumbs: 'thumbs',
      models: 'models',
      "a future run's model folder": 'models/7',
      cache: 'cache',
      'project.db': 'project.db',
    };
    for (const [what, rel] of Object.entries(links)) {
      it(`is refused before anything is read or deleted there: ${what}`, async () => {
        const dir = newClosedProject();
        const victim = path.join(path.dirname(dir), 'victim');
        fs.mkdirSync(victim);
        // What a pruned upload, a swept temp file or a replaced model would look like there.
        fs.writeFileSync(path.join(victim, 'keep.txt'), 'mine');
        fs.writeFileSync(path.join(victim, 'x.part'), 'mine too');
        fs.mkdirSync(path.join(victim, '0123456789abcdef0123456789abcdef'));
        const link = path.join(dir, rel);
        fs.mkdirSync(path.dirname(link), { recursive: true });
        if (rel === 'project.db') {
          fs.renameSync(link, path.join(victim, 'project.db'));
        } else fs.rmSync(link, { recursive: true, force: true });
        fs.symlinkSync(rel === 'project.db' ? path.join(victim, 'project.db') : victim, link);
        const before = snapshotDir(victim);

        const err = refusal(() => Project.open(dir));
        expect(err.code).toBe('NOT_A_PROJECT');
        expect(err.message).toMatch(/is a symbolic link.*Loupe does not open this one/);
        const studio = makeStudio();
        const api = createApi(studio.createSession(() => {}));
        await expect(api.openProject({ path: dir })).rejects.toMatchObject({ code: 'NOT_A_PROJECT' });
        expect(snapshotDir(victim)).toEqual(before);
        expect(fs.readdirSync(victim).sort()).toEqual(['0123456789abcdef0123456789abcdef', 'keep.txt', ...(rel === 'project.db' ? ['project.db'] : []), 'x.part'].sort());
      });
    }
  });
});
