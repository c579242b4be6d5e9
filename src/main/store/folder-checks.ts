// What a project folder must be before Loupe opens it. Its own folders lie inside it (a project
// from elsewhere is untrusted, and a link could lead Loupe's writes and deletions outside), and
// Loupe can write to it, or else it is opened read-only from a private copy of its database.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoupeError } from '../../shared/errors';

/**
 * Why Loupe could not save changes to this project folder, or null when it can. Checked up
 * front: SQLite itself reports a read-only disk as "database is locked".
 */
export function readOnlyReason(root: string, db: string): string | null {
  const targets = [root, db, `${db}-wal`, `${db}-shm`].filter((f) => f === root || f === db || fs.existsSync(f));
  for (const target of targets) {
    try {
      fs.accessSync(target, fs.constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EROFS') return 'it is on a read-only disk';
      if (code === 'EACCES' || code === 'EPERM') return `this user may not write to ${target}`;
      return `${target} cannot be written (${code ?? 'unknown error'})`;
    }
  }
  return null;
}

/**
 * Folders Loupe writes into and deletes from. In a project from elsewhere any of them could be
 * a symbolic link to a folder of the user's (tmp/uploads -> ~/Documents, and opening the project
 * would prune "stale uploads" there), so none may be a link, nor hold one at the levels Loupe
 * creates and deletes folders in. Image files that are links are harmless: media is served only
 * from inside the project (media.ts: confine), and writes replace a link instead of following it.
 */
export function refuseEscapingFolders(root: string, dbFile: string): void {
  const refuse = (rel: string, what: string) => {
    throw new LoupeError(
      'NOT_A_PROJECT',
      `${path.join(root, rel)} is ${what}. A project's own folders must lie inside it, so Loupe does not open this one ` +
        '(nothing outside the project folder is read or changed).',
    );
  };
  const check = (rel: string, depth: number): void => {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(path.join(root, rel));
    } catch {
      return;
    }
    if (stat.isSymbolicLink()) refuse(rel, 'a symbolic link');
    if (!stat.isDirectory()) return;
    if (depth === 0) return;
    for (const d of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      if (d.isSymbolicLink()) refuse(path.join(rel, d.name), 'a symbolic link');
      if (d.isDirectory()) check(path.join(rel, d.name), depth - 1);
    }
  };
  try {
    if (fs.lstatSync(dbFile).isSymbolicLink()) refuse(path.basename(dbFile), 'a symbolic link');
  } catch (err) {
    if (err instanceof LoupeError) throw err;
  }
  // media/ and thumbs/: the folder and its shard folders (not the 100,000 files in them).
  for (const dir of ['media', 'thumbs']) check(dir, 1);
  // Small trees Loupe deletes whole folders in: every level.
  for (const dir of ['models', 'cache', 'tmp']) check(dir, 16);
}

/**
 * A read-only folder's database cannot be opened in place (SQLite needs to write the WAL
 * index beside it), so a private copy is read instead. Returns it and how to delete it.
 */
export function readOnlyCopy(dbFile: string): { file: string; dispose: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-readonly-'));
  const dispose = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    const file = path.join(dir, path.basename(dbFile));
    fs.copyFileSync(dbFile, file);
    if (fs.existsSync(`${dbFile}-wal`)) fs.copyFileSync(`${dbFile}-wal`, `${file}-wal`);
    return { file, dispose };
  } catch (err) {
    dispose();
    throw err;
  }
}
