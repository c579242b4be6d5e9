// The SHA-256s already in the project, shared read-only with the workers (one sorted buffer of
// 32-byte digests in shared memory), so a file already imported is recognised without decoding.

const SIZE = 32;

export function knownHashesBuffer(hexHashes: readonly string[]): SharedArrayBuffer {
  const digests = hexHashes.map((h) => Buffer.from(h, 'hex')).filter((b) => b.length === SIZE);
  digests.sort(Buffer.compare);
  const shared = new SharedArrayBuffer(digests.length * SIZE);
  const view = Buffer.from(shared);
  digests.forEach((d, i) => d.copy(view, i * SIZE));
  return shared;
}

export class KnownHashes {
  readonly #view: Buffer;
  readonly #count: number;

  constructor(shared: SharedArrayBuffer) {
    this.#view = Buffer.from(shared);
    this.#count = shared.byteLength / SIZE;
  }

  has(digest: Buffer): boolean {
    let lo = 0;
    let hi = this.#count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = Buffer.compare(this.#view.subarray(mid * SIZE, mid * SIZE + SIZE), digest);
      if (c === 0) return true;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }
}
