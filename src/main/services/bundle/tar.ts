// A minimal POSIX ustar writer: regular files only, the layout WebDataset shards use and every
// tar reader (Python's tarfile, GNU tar, webdataset) reads. Written as it goes, hashed as it goes,
// so a shard of thousands of images never sits in memory.

import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';

const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** The 512-byte header of a regular file `name` (at most 100 bytes) of `size` bytes. */
export function tarHeader(name: string, size: number, mtime: number): Buffer {
  const header = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(name) > 100) throw new Error(`Tar member name too long: ${name}`);
  header.write(name, 0, 100, 'utf8');
  header.write(octal(0o644, 8), 100, 'ascii');
  header.write(octal(0, 8), 108, 'ascii');
  header.write(octal(0, 8), 116, 'ascii');
  header.write(octal(size, 12), 124, 'ascii');
  header.write(octal(Math.floor(mtime / 1000), 12), 136, 'ascii');
  header.write('        ', 148, 'ascii');
  header.write('0', 156, 'ascii');
  header.write('ustar\0', 257, 'ascii');
  header.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return header;
}

export class TarWriter {
  readonly #fd: number;
  readonly #hash: Hash = createHash('sha256');
  #bytes = 0;

  constructor(
    readonly file: string,
    private readonly mtime = Date.now(),
  ) {
    this.#fd = fs.openSync(file, 'w');
  }

  get bytes(): number {
    return this.#bytes;
  }

  #write(data: Uint8Array): void {
    fs.writeSync(this.#fd, data);
    this.#hash.update(data);
    this.#bytes += data.byteLength;
  }

  add(name: string, data: Uint8Array): void {
    this.#write(tarHeader(name, data.byteLength, this.mtime));
    this.#write(data);
    const pad = (BLOCK - (data.byteLength % BLOCK)) % BLOCK;
    if (pad > 0) this.#write(Buffer.alloc(pad));
  }

  /** Ends the archive (two zero blocks), syncs and closes it; returns its sha256. */
  close(): string {
    this.#write(Buffer.alloc(2 * BLOCK));
    fs.fsyncSync(this.#fd);
    fs.closeSync(this.#fd);
    return this.#hash.digest('hex');
  }

  abandon(): void {
    fs.closeSync(this.#fd);
  }
}
