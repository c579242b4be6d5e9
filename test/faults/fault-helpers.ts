// Tools for the fault-injection tests: the built CLI in a child process, kill -9 at a
// seeded random moment, small file systems (tmpfs) and read-only mounts, and the checks every
// faulted project must pass.

import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { recoverImports } from '../../src/main/services/import';
import { mediaRelPath } from '../../src/main/store/media';
import { Project } from '../../src/main/store/project';
import { cliPath, onCleanup, repoRoot, tempDir } from '../helpers';

export { seededRandom } from '../../src/main/services/rng';

export const isRoot = process.getuid?.() === 0;
export const isLinux = process.platform === 'linux';

/**
 * The built CLI, as a user runs it (test/build-setup.ts builds this tree first where the build is
 * older). From source through tsx, each start took about 3 s more (5.9 s against 2.7 s to begin
 * a training run here): a minute or more of each fault test's 20 kills.
 */
export function cliArgs(args: string[]): string[] {
  return [cliPath, ...args];
}

export function runCli(args: string[], options: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv } = {}) {
  return spawnSync(process.execPath, cliArgs(args), {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, LOUPE_HOME: tempDir('loupe-home-'), ...options.env },
    uid: options.uid,
    gid: options.gid,
  });
}

export interface Child {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the built CLI; stdout and stderr are collected. */
export function startCli(args: string[], options: SpawnOptions = {}): Child {
  const proc = spawn(process.execPath, cliArgs(args), {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
    env: { ...process.env, LOUPE_HOME: tempDir('loupe-home-'), ...options.env },
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  onCleanup(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  return { proc, stdout: () => out, stderr: () => err, exited };
}

/** Resolves when `text()` matches `pattern` (polled), or rejects if the child exits first. */
export async function waitFor(child: Child, text: () => string, pattern: RegExp, timeoutMs = 60_000): Promise<void> {
  const started = Date.now();
  let exited = false;
  void child.exited.then(() => (exited = true));
  while (!pattern.test(text())) {
    if (exited) throw new Error(`the child exited before ${pattern}: ${child.stderr().slice(-2000)}`);
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${pattern}: ${child.stderr().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Kills the child with SIGKILL after `ms`, unless it has exited by then. Says whether the kill
 * landed (false: the work finished first).
 */
export async function killAfter(child: Child, ms: number): Promise<boolean> {
  const winner = await Promise.race([child.exited.then(() => 'exited' as const), new Promise<'timer'>((r) => setTimeout(() => r('timer'), ms))]);
  if (winner === 'exited') return false;
  child.proc.kill('SIGKILL');
  const { signal } = await child.exited;
  return signal === 'SIGKILL';
}

/** What every project must be after any fault: it opens, SQLite finds it sound, media is whole. */
export function expectIntact(dir: string, options: { mediaHashes?: boolean } = {}): { images: number } {
  const { mediaHashes = true } = options;
  const project = Project.open(dir);
  try {
    // What the studio and `loupe import` do on opening: mark a dead import interrupted, sweep its temp files.
    recoverImports(project);
    expect(project.db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(project.db.pragma('foreign_key_check')).toEqual([]);
    const rows = project.db.prepare('SELECT hash, ext FROM images').all() as { hash: string; ext: string }[];
    for (const { hash, ext } of rows) {
      const rel = mediaRelPath(hash, ext);
      const bytes = fs.readFileSync(path.join(dir, rel));
      // (Generated fixtures share files under made-up names: only their presence is checked.)
      if (mediaHashes) expect(sha256(bytes), `${rel} has the bytes its row names`).toBe(hash);
    }
    if (!mediaHashes) return { images: rows.length };
    // Files without a row may be left by a kill (a later import checks and reuses them), but no
    // file under media/ may be half-written: each one's name is the hash of its bytes.
    for (const rel of listFiles(path.join(dir, 'media'))) {
      expect(rel.endsWith('.part'), `${rel}: temp files are swept when the project opens`).toBe(false);
      const name = path.basename(rel).split('.')[0];
      expect(sha256(fs.readFileSync(path.join(dir, 'media', rel))), `media/${rel} is whole`).toBe(name);
    }
    return { images: rows.length };
  } finally {
    project.close();
  }
}

export const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((rel) => fs.statSync(path.join(dir, rel)).isFile());
}

/** Mounts a tmpfs of `size` (e.g. "8m") at a new folder, unmounted after the test. Root only. */
export function tmpfs(size: string): string {
  const dir = tempDir('loupe-tmpfs-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount tmpfs failed: ${r.stderr}`);
  onCleanup(() => void spawnSync('umount', ['-l', dir]));
  return dir;
}

export function resizeTmpfs(dir: string, size: string): void {
  const r = spawnSync('mount', ['-o', `remount,size=${size}`, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`remount failed: ${r.stderr}`);
}

/** A read-only view of `dir` (a read-only bind mount), unmounted after the test. Root only. */
export function readOnlyView(dir: string): string {
  const view = tempDir('loupe-ro-');
  for (const args of [['--bind', dir, view], ['-o', 'remount,ro,bind', view]]) {
    const r = spawnSync('mount', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mount ${args.join(' ')} failed: ${r.stderr}`);
  }
  onCleanup(() => void spawnSync('umount', ['-l', view]));
  return view;
}

/** Whether this machine lets the tests mount file systems (root in a container that allows it). */
export const canMount: boolean = (() => {
  if (!isRoot || !isLinux) return false;
  const probe = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'loupe-mount-probe-'));
  try {
    const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe]).status === 0;
    if (ok) spawnSync('umount', [probe]);
    return ok;
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
})();

export const MOUNT_SKIP_REASON = 'needs root and mount(8) (tmpfs, bind mounts): run the suite as root on Linux';

/** Fills the file system holding `dir` until `leaveBytes` are free; returns the filler file. */
export function fillDisk(dir: string, leaveBytes: number): string {
  const filler = path.join(dir, `.filler-${Date.now()}`);
  const fd = fs.openSync(filler, 'w');
  try {
    // Write until the file system refuses, then give back what should stay free.
    const chunk = Buffer.alloc(1 << 16, 1);
    let size = 0;
    for (;;) {
      try {
        size += fs.writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        break;
      }
    }
    fs.ftruncateSync(fd, Math.max(0, size - leaveBytes));
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

export const freeBytes = (dir: string) => {
  const { bavail, bsize } = fs.statfsSync(dir);
  return bavail * bsize;
};
