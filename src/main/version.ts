import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository (or installed package) root: the nearest folder up with Loupe's package.json. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file) && JSON.parse(fs.readFileSync(file, 'utf8')).name === 'loupe') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('Cannot find Loupe’s package.json');
    dir = parent;
  }
}

let cached: string | undefined;
export function loupeVersion(): string {
  cached ??= JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version as string;
  return cached;
}

export function rendererDir(): string {
  return path.join(packageRoot(), 'out', 'renderer');
}
