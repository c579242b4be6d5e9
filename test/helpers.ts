import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { Studio, type Host } from '../src/main/api/studio';
import { AppState } from '../src/main/store/app-state';

const cleanups: (() => void | Promise<void>)[] = [];

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Runs `fn` after the current test, even when it fails. */
export function onCleanup(fn: () => void | Promise<void>): void {
  cleanups.push(fn);
}

export function tempDir(prefix = 'loupe-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function makeStudio(host: Partial<Host> = {}): Studio {
  const studio = new Studio({
    appState: new AppState(tempDir('loupe-home-')),
    host: { mode: 'browser', ...host },
    version: '0.0.0-test',
  });
  onCleanup(() => studio.close());
  return studio;
}

/** Bytes and names of every file under `dir`, to prove something was left untouched. */
export function snapshotDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const full = path.join(dir, name);
    if (fs.statSync(full).isFile()) out[name] = fs.readFileSync(full).toString('base64');
  }
  return out;
}

export const repoRoot = path.resolve(import.meta.dirname, '..');
export const cliPath = path.join(repoRoot, 'bin', 'loupe.js');

/**
 * Inserts `n` image rows (no files) straight into a project, for tests of queries and
 * labeling that do not need real images. Returns their ids in order.
 */
export function seedImages(
  db: import('better-sqlite3').Database,
  n: number,
  options: { name?: (i: number) => string; split?: (i: number) => 'train' | 'val' | 'test' } = {},
): number[] {
  const insert = db.prepare(
    `INSERT INTO images (hash, ext, format, width, height, channels, bytes, original_name, split, added_at)
     VALUES (?, 'png', 'png', 32, 32, 3, 100, ?, ?, 0)`,
  );
  const ids: number[] = [];
  db.transaction(() => {
    const start = (db.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n;
    for (let i = 0; i < n; i++) {
      const k = start + i;
      const hash = k.toString(16).padStart(64, '0');
      const split = options.split?.(k) ?? (['train', 'train', 'train', 'val', 'test'] as const)[k % 5];
      ids.push(Number(insert.run(hash, options.name?.(k) ?? `img_${k}.png`, split).lastInsertRowid));
    }
  })();
  return ids;
}
