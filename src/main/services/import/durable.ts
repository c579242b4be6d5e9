// Making imported files durable before their database rows are committed.
//
// Measured on this machine's ext4 (virtio disk): creating a small file costs ~40 µs, but an
// fsync costs 0.2–3 ms, and concurrent fsyncs barely overlap. At one fsync per image, 60,000
// CIFAR images would spend 15–100 s waiting on the disk. Instead the workers write each file to a
// temp name and rename it into place without fsync, and the main thread, before it commits a
// batch of rows, makes the whole batch durable with one syncfs(2) of the project's file system
// (one call per batch of hundreds of files: ~10 µs per file). Node has no syncfs binding, so it
// runs `sync -f` (coreutils and busybox), which calls exactly that, from a small shell loop
// started once per import: forking the (large) app process for every batch cost ~14 ms of
// main-thread time each.
//
// Invariant: a media file is trusted only if its row exists, and a row is committed only after a
// sync that began after its file was renamed into place. A file left by a crash without a row is
// never trusted: a later import that needs that name compares its bytes and rewrites it.
//
// Where `sync -f` is missing (macOS, Windows, minimal Linux images), or LOUPE_SYNC=file, the
// workers fall back to the classic per-file scheme: write, fsync, rename, fsync the folder.

import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createInterface } from 'node:readline';

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
  // Probe on /proc (syncfs there flushes nothing), so the probe costs nothing and cannot make
  // a cancel wait for a flush of unrelated dirty data.
  probed ??= runSync(fs.existsSync('/proc/self') ? '/proc' : dir).then(
    () => true,
    () => false,
  );
  return (await probed) ? 'filesystem' : 'file';
}

export interface FileSystemSyncer {
  /** Flushes every file written so far on the file system that holds the folder (syncfs(2)). */
  sync(): Promise<void>;
  close(): void;
}

/** A helper process that runs `sync -f <dir>` each time it is asked. */
export function fileSystemSyncer(dir: string): FileSystemSyncer {
  const child = spawn('sh', ['-c', 'while read -r _; do if sync -f "$1"; then echo ok; else echo failed; fi; done', 'sh', dir], {
    stdio: ['pipe', 'pipe', 'ignore'],
    windowsHide: true,
  });
  const waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  let exited: Error | null = null;
  const fail = (err: Error) => {
    exited = err;
    for (const w of waiting.splice(0)) w.reject(err);
  };
  child.on('error', fail);
  child.on('exit', () => fail(new Error('The file-system sync helper stopped.')));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const w = waiting.shift();
    if (line === 'ok') w?.resolve();
    else w?.reject(Object.assign(new Error(`Could not flush ${dir} to disk (sync -f failed).`), { code: 'EIO' }));
  });
  return {
    sync() {
      if (exited) return Promise.reject(exited);
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.stdin!.write('\n');
      });
    },
    close() {
      child.stdin!.end();
    },
  };
}
