// Writes an image or thumbnail into the project: to a temp file under the project, then renamed
// into its content-addressed place. See durable.ts for when it reaches the disk.

import fs from 'node:fs';
import path from 'node:path';

export class MediaWriter {
  readonly #dirs = new Set<string>();
  #counter = 0;

  constructor(
    private readonly root: string,
    private readonly tmpDir: string,
    /** Per-file fsync (and folder fsync) instead of the batched file-system sync. */
    private readonly syncEachFile: boolean,
    private readonly prefix: string,
  ) {
    fs.mkdirSync(tmpDir, { recursive: true });
  }

  /** Puts `bytes` at `rel` under the project, unless identical bytes are already there. */
  put(rel: string, bytes: Buffer): void {
    const final = path.join(this.root, rel);
    const existing = fs.statSync(final, { throwIfNoEntry: false });
    if (existing?.isFile() && existing.size === bytes.length && fs.readFileSync(final).equals(bytes)) return;
    const dir = path.dirname(final);
    this.#ensureDir(dir);
    const tmp = path.join(this.tmpDir, `${this.prefix}-${this.#counter++}.part`);
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
