// Making imported files durable before their database rows are committed.
//
// Measured on this machine's ext4 (virtio disk): creating a small file costs ~40 µs, but an
// fsync costs 0.2–3 ms, and concurrent fsyncs barely overlap. At one fsync per image, 60,000
// CIFAR images would spend 15–100 s waiting on the disk. Instead the workers write each file to a
// temp name and rename it into place without fsync, and the main thread, before it commits a
// batch of rows, makes the whole batch durable with one syncfs(2) of the project's file system
// (one call per batch of hundreds of files: ~10 µs per file). Node has no syncfs binding, so it
// runs `sync --file-system` (coreutils and busybox), which calls exactly that.
//
// Invariant: a media file is trusted only if its row exists, and a row is committed only after a
// sync that began after its file was renamed into place. A file left by a crash without a row is
// never trusted: a later import that needs that name compares its bytes and rewrites it.
//
// Where `sync -f` is missing (macOS, Windows, minimal Linux images), or LOUPE_SYNC=file, the
// workers fall back to the classic per-file scheme: write, fsync, rename, fsync the folder.

import { execFile } from 'node:child_process';

export type SyncMode = 'filesystem' | 'file';

let probed: Promise<boolean> | null = null;

function runSync(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('sync', ['-f', dir], { timeout: 10 * 60_000, windowsHide: true }, (err) => (err ? reject(err) : resolve()));
  });
}

/** Which scheme this process uses for the project folder `dir`. */
export async function syncMode(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<SyncMode> {
  if (env.LOUPE_SYNC === 'file' || process.platform !== 'linux') return 'file';
  probed ??= runSync(dir).then(
    () => true,
    () => false,
  );
  return (await probed) ? 'filesystem' : 'file';
}

/** Flushes every file written so far on the file system that holds `dir` (syncfs(2)). */
export function syncFileSystem(dir: string): Promise<void> {
  return runSync(dir);
}
