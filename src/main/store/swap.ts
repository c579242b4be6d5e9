// Replacing and removing folders so that a process killed at any moment leaves each one whole
// or absent: a folder is written beside its place and renamed into it, and an old one is moved
// aside by a rename before it is deleted (deleting it in place, file by file, could be cut off
// halfway). What is left beside it is named `<dir>.<what>.tmp-<pid>-<time>`; a project sweeps
// those in models/ when it opens (recovery.ts).

import fs from 'node:fs';

/** A temporary name beside `dir`. */
export function tempSibling(dir: string, what: string): string {
  return `${dir}.${what}.tmp-${process.pid}-${Date.now()}`;
}

/** Puts the complete folder `tmp` at `dir`, replacing what was there. */
export function replaceFolder(tmp: string, dir: string): void {
  const old = fs.existsSync(dir) ? tempSibling(dir, 'old') : null;
  if (old) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  if (old) fs.rmSync(old, { recursive: true, force: true });
}

/** Removes a folder, moving it aside first. */
export function removeFolder(dir: string): void {
  if (!fs.existsSync(dir)) return;
  const old = tempSibling(dir, 'old');
  fs.renameSync(dir, old);
  fs.rmSync(old, { recursive: true, force: true });
}
