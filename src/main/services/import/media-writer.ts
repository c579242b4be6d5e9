// Writes an image or thumbnail into the project: to a temp file beside its final name, then
// renamed into its content-addressed place. See durable.ts for when it reaches the disk.
//
// Beside, not in one temp folder: ext4 allocates a new file's inode near its folder's, and on
// the development VM a single busy temp folder made every file creation cost 0.6-0.8 ms of
// kernel time (the allocator skipping recently deleted inodes), against ~30 µs when the files
// are created in the 256 spread-out shard folders. It also keeps an image's inode near its
// neighbours'. Leftovers of a killed import are swept by name (paths.ts).

import fs from 'node:fs';
import path from 'node:path';
import { TEMP_SUFFIX } from './paths';

export class MediaWriter {
  readonly #dirs = new Set<string>();
  #counter = 0;

  constructor(
    private readonly root: string,
    /** Per-file fsync (and folder fsync) instead of the batched file-system sync. */
    private readonly syncEachFile: boolean,
    private readonly prefix: string,
  ) {}

  /** Puts `bytes` at `rel` under the project, unless identical bytes are already there. */
  put(rel: string, bytes: Buffer): void {
    const final = path.join(this.root, rel);
    const existing = fs.statSync(final, { throwIfNoEntry: false });
    if (existing?.isFile() && existing.size === bytes.length && fs.readFileSync(final).equals(bytes)) return;
    const dir = path.dirname(final);
    this.#ensureDir(dir);
    const tmp = `${final}.${this.prefix}-${this.#counter++}${TEMP_SUFFIX}`;
    if (!this.syncEachFile) {
      fs.writeFileSync(tmp, bytes);
      fs.renameSync(tmp, final);
      return;
    }
    const fd = fs.openSync(tmp, 'w');
    try {
      let off = 0;
      while (off < bytes.length) off += fs.writeSync(fd, bytes, off);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, final);
    syncDir(dir);
  }

  #ensureDir(dir: string): void {
    if (this.#dirs.has(dir)) return;
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      if (this.syncEachFile) syncDir(path.dirname(dir));
    }
    this.#dirs.add(dir);
  }
}

/** Makes a folder's entries durable (a no-op where folders cannot be opened, i.e. Windows). */
export function syncDir(dir: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fs.fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw err;
  } finally {
    fs.closeSync(fd);
  }
}
