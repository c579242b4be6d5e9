import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LoupeError } from '../../src/shared/errors';
import { APPLICATION_ID } from '../../src/main/store/database';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/main/store/migrations';
import { Project, requireWritable } from '../../src/main/store/project';
import { removeFolder, replaceFolder, tempSibling } from '../../src/main/store/swap';
import { projectSummary } from '../../src/main/services/summary';
import { cliPath, onCleanup, snapshotDir, tempDir } from '../helpers';

function expectCode(fn: () => unknown, code: string): LoupeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LoupeError);
    expect((err as LoupeError).code).toBe(code);
    return err as LoupeError;
  }
  throw new Error(`expected ${code}, but nothing was thrown`);
}

function open(dir: string): Project {
  const project = Project.open(dir);
  onCleanup(() => project.close());
  return project;
}

describe('project store', () => {
  it('creates the folder layout and migrates an empty database to the latest schema', () => {
    const dir = path.join(tempDir(), 'pets.loupe');
    const project = Project.create(dir);
    onCleanup(() => project.close());
    for (const sub of ['media', 'thumbs', 'models', 'cache']) expect(fs.statSync(path.join(dir, sub)).isDirectory()).toBe(true);
    const db = project.db;
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
    expect(tables).toEqual(
      expect.arrayContaining(['meta', 'classes', 'images', 'labels', 'actions', 'runs', 'run_epochs', 'run_images', 'predictions', 'exports']),
    );
    expect(project.name).toBe('pets');
    expect(projectSummary(project)).toMatchObject({ images: 0, labeled: 0, classes: [], splits: { train: 0, val: 0, test: 0 } });
  });

  it('runs every registered migration in order, in one transaction', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    const file = path.join(tempDir(), 'raw.db');
    const db = new Database(file);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.close();
    const dir = path.dirname(file);
    fs.renameSync(file, path.join(dir, 'project.db'));
    const project = open(dir);
    expect(project.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
  });

  it('migrates a v3 database to v4: labels keep their rows and index and accept the source "check"', () => {
    const dir = path.join(tempDir(), 'v3.loupe');
    fs.mkdirSync(dir);
    const raw = new Database(path.join(dir, 'project.db'));
    raw.pragma(`application_id = ${APPLICATION_ID}`);
    raw.pragma('foreign_keys = ON');
    raw.transaction(() => {
      for (const m of MIGRATIONS.filter((x) => x.version <= 3)) m.up(raw);
      raw.pragma('user_version = 3');
      raw.prepare("INSERT INTO classes (id, name, color, position, created_at) VALUES (1, 'cat', '#000000', 0, 0)").run();
      const image = raw.prepare(
        `INSERT INTO images (id, hash, ext, format, width, height, channels, bytes, original_name, split, added_at)
         VALUES (?, ?, 'png', 'png', 1, 1, 3, 1, ?, 'test', 0)`,
      );
      for (const id of [1, 2, 3]) image.run(id, String(id).repeat(64), `${id}.png`);
      const label = raw.prepare('INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (?, 1, ?, ?)');
      label.run(1, 'user', 11);
      label.run(2, 'import', 12);
      label.run(3, 'suggestion', 13);
      expect(() => label.run(3, 'check', 14)).toThrow(/CHECK/);
      raw.prepare("INSERT INTO runs (id, status, arch, backend, seed, plan, config, classes, created_at) VALUES (1, 'completed', 'mlp', 'cpu', 1, '{}', '{}', '[]', 0)").run();
      raw.prepare("INSERT INTO label_checks (run_id, folds, epochs, images, flagged, seconds, thresholds, created_at) VALUES (1, 4, 10, 3, 0, 1, '{}', 5)").run();
    })();
    raw.close();

    const project = open(dir);
    const db = project.db;
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.prepare('SELECT image_id AS id, class_id AS c, source, updated_at AS at FROM labels ORDER BY image_id').all()).toEqual([
      { id: 1, c: 1, source: 'user', at: 11 },
      { id: 2, c: 1, source: 'import', at: 12 },
      { id: 3, c: 1, source: 'suggestion', at: 13 },
    ]);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'labels'").pluck().all()).toContain('labels_class');
    db.prepare("UPDATE labels SET source = 'check' WHERE image_id = 3").run();
    expect(() => db.prepare("UPDATE labels SET source = 'robot' WHERE image_id = 3").run()).toThrow(/CHECK/);
    // Foreign keys still hold on the rebuilt table, and a check made before v4 reads as such.
    expect(() => db.prepare("INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (99, 1, 'user', 0)").run()).toThrow(/FOREIGN KEY/);
    expect(db.prepare('SELECT held_back AS h, reliability AS r FROM label_checks').get()).toEqual({ h: 0, r: '[]' });
    expect(db.pragma('foreign_key_check')).toEqual([]);
  });

  it('refuses a database written by a newer Loupe and leaves it untouched', () => {
    const dir = path.join(tempDir(), 'future.loupe');
    Project.create(dir).close();
    const db = new Database(path.join(dir, 'project.db'));
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const before = snapshotDir(dir);
    const err = expectCode(() => Project.open(dir), 'FUTURE_VERSION');
    expect(err.message).toMatch(/newer version of Loupe/);
    expect(snapshotDir(dir)).toEqual(before);
  });

  it('refuses a file that is not a database and leaves it untouched', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'project.db'), 'this is a text file, not SQLite\n'.repeat(10));
    const before = snapshotDir(dir);
    expectCode(() => Project.open(dir), 'NOT_A_PROJECT');
    expect(snapshotDir(dir)).toEqual(before);
  });

  it('refuses an SQLite database that is not a Loupe project and leaves it untouched', () => {
    const dir = tempDir();
    const db = new Database(path.join(dir, 'project.db'));
    db.exec('CREATE TABLE other (x)');
    db.close();
    const before = snapshotDir(dir);
    expectCode(() => Project.open(dir), 'NOT_A_PROJECT');
    expect(snapshotDir(dir)).toEqual(before);
  });

  it('lets writes through a writable project and refuses them, with READ_ONLY, in one opened read-only', () => {
    const dir = path.join(tempDir(), 'pets.loupe');
    Project.create(dir).close();
    const writable = open(dir);
    expect(requireWritable(writable)).toBe(writable);
    writable.close();
    const looking = Project.open(dir, { readOnly: true });
    onCleanup(() => looking.close());
    expect(expectCode(() => requireWritable(looking), 'READ_ONLY').message).toBe('This project is open read-only.');
    expect(expectCode(() => requireWritable(looking, 'settings cannot be saved'), 'READ_ONLY').message).toBe(
      'This project is open read-only; settings cannot be saved.',
    );
  });

  it('refuses folders without a project and paths that do not exist', () => {
    expectCode(() => Project.open(tempDir()), 'NOT_A_PROJECT');
    expectCode(() => Project.open(path.join(tempDir(), 'nope')), 'NOT_FOUND');
  });

  it('refuses to create a project in a non-empty folder or over an existing project', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'keep.txt'), 'mine');
    expectCode(() => Project.create(dir), 'ALREADY_EXISTS');
    expect(fs.readFileSync(path.join(dir, 'keep.txt'), 'utf8')).toBe('mine');
    const projectDir = path.join(tempDir(), 'a.loupe');
    Project.create(projectDir).close();
    expectCode(() => Project.create(projectDir), 'ALREADY_EXISTS');
  });

  it('accepts the project.db path as well as the folder', () => {
    const dir = path.join(tempDir(), 'b.loupe');
    Project.create(dir).close();
    expect(open(path.join(dir, 'project.db')).root).toBe(dir);
  });

  it('refuses a second opener in this process while the project is open', () => {
    const dir = path.join(tempDir(), 'locked.loupe');
    const first = Project.create(dir);
    onCleanup(() => first.close());
    expectCode(() => Project.open(dir), 'PROJECT_LOCKED');
  });

  it('refuses the CLI in another process while the project is open, and lets it in afterwards', () => {
    const dir = path.join(tempDir(), 'shared.loupe');
    const first = Project.create(dir);
    first.db.prepare("INSERT INTO classes (name, color, position, created_at) VALUES ('cat', '#f00', 0, 0)").run();
    const locked = spawnSync(process.execPath, [cliPath, 'status', dir, '--json'], { encoding: 'utf8' });
    expect(locked.status).toBe(1);
    expect(locked.stderr).toMatch(/open in another Loupe window or process/);
    expect(locked.stdout).toBe('');
    first.close();
    const after = spawnSync(process.execPath, [cliPath, 'status', dir, '--json'], { encoding: 'utf8' });
    expect(after.status).toBe(0);
    expect(JSON.parse(after.stdout).classes).toEqual([{ name: 'cat', count: 0 }]);
    // The data written while it was shared is intact.
    const again = open(dir);
    expect(again.db.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('releases the lock when the owning process is killed', () => {
    const dir = path.join(tempDir(), 'killed.loupe');
    Project.create(dir).close();
    const script = `
      const { default: Database } = await import(${JSON.stringify(path.resolve('node_modules/better-sqlite3/lib/index.js'))});
      const db = new Database(${JSON.stringify(path.join(dir, 'project.db'))});
      db.pragma('locking_mode = EXCLUSIVE'); db.pragma('journal_mode = WAL');
      db.exec("BEGIN IMMEDIATE; INSERT INTO meta VALUES ('k', 'v'); COMMIT");
      process.kill(process.pid, 'SIGKILL');`;
    spawnSync(process.execPath, ['--input-type=module', '-e', script]);
    const project = open(dir);
    expect(project.db.prepare("SELECT value FROM meta WHERE key = 'k'").get()).toEqual({ value: 'v' });
  });

  it('sweeps what an export cut off by a crash left beside its folder, and nothing that is not its own', () => {
    const dir = path.join(tempDir(), 'crash.loupe');
    const out = tempDir('loupe-out-');
    const project = Project.create(dir);
    const now = Date.now();
    project.db
      .prepare(`INSERT INTO runs (id, status, arch, backend, seed, plan, config, classes, created_at) VALUES (1, 'completed', 'mlp', 'cpu', 1, '{}', '{}', '[]', ?)`)
      .run(now);
    const insert = project.db.prepare(`INSERT INTO exports (id, run_id, format, path, status, created_at) VALUES (?, 1, 'all', ?, ?, ?)`);
    insert.run(7, path.join(out, 'pets-run-1'), 'running', now);
    insert.run(8, path.join(out, 'done'), 'completed', now);
    project.close();
    const staging = (name: string, mark: object | null) => {
      fs.mkdirSync(path.join(out, name));
      fs.writeFileSync(path.join(out, name, 'model.onnx'), 'half');
      if (mark) fs.writeFileSync(path.join(out, name, '.loupe-export-staging'), JSON.stringify(mark));
    };
    staging('.pets-run-1.partial-0a1b2c3d', { exportId: 7 }); // the crashed export's: removed
    staging('.pets-run-1.partial-11111111', { exportId: 9 }); // another export's
    staging('.pets-run-1.partial-22222222', null); // unmarked: not provably ours
    staging('.done.partial-33333333', { exportId: 8 }); // a completed export is not swept
    fs.writeFileSync(path.join(out, 'pets-run-1.zip.partial'), 'not written by Loupe'); // (Loupe zips inside the staging folder)
    fs.writeFileSync(path.join(out, 'pets-run-1.zip'), 'someone else\'s');

    const reopened = Project.open(dir);
    onCleanup(() => reopened.close());
    expect(reopened.db.prepare('SELECT id, status FROM exports ORDER BY id').all()).toEqual([
      { id: 7, status: 'failed' },
      { id: 8, status: 'completed' },
    ]);
    expect(fs.readdirSync(out).sort()).toEqual(['.done.partial-33333333', '.pets-run-1.partial-11111111', '.pets-run-1.partial-22222222', 'pets-run-1.zip', 'pets-run-1.zip.partial']);
  });

  it('replaces and removes model folders by renaming, and sweeps what a kill left beside them', () => {
    const dir = path.join(tempDir(), 'models.loupe');
    Project.create(dir).close();
    const run = path.join(dir, 'models', '1');
    const write = (folder: string, text: string) => {
      fs.mkdirSync(folder, { recursive: true });
      fs.writeFileSync(path.join(folder, 'model.json'), text);
      fs.writeFileSync(path.join(folder, 'weights.bin'), text);
    };
    // Replace: the new folder takes the place of the old one, and nothing is left beside it.
    write(path.join(run, 'best'), 'epoch 1');
    const next = tempSibling(path.join(run, 'best'), 'new');
    write(next, 'epoch 2');
    replaceFolder(next, path.join(run, 'best'));
    expect(fs.readFileSync(path.join(run, 'best', 'model.json'), 'utf8')).toBe('epoch 2');
    expect(fs.readdirSync(run)).toEqual(['best']);
    removeFolder(path.join(run, 'best'));
    expect(fs.readdirSync(run)).toEqual([]);

    // A kill between the renames leaves whole folders under temporary names only: swept on open.
    write(path.join(run, 'model'), 'final');
    write(tempSibling(path.join(run, 'best'), 'old'), 'epoch 3');
    write(tempSibling(path.join(run, 'best'), 'new'), 'epoch 4');
    write(path.join(run, 'best.tmp-notes'), 'not ours: not a temp name of Loupe');
    open(dir);
    expect(fs.readdirSync(run).sort()).toEqual(['best.tmp-notes', 'model']);
  });
});
