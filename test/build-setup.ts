// Vitest's global setup: the tests that spawn `loupe` (the CLI's, the fault-injection and soak
// tests, and browser mode in the end-to-end tests) run the built app, as a user does. So that
// they always test this tree, the build is brought up to date first when any file it is made
// from is newer than it (`npm test` has just built, so there it does nothing).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// (Not test/helpers.ts's repoRoot: that module registers test hooks, which a global setup cannot.)
const repoRoot = path.resolve(import.meta.dirname, '..');

/**
 * The newest file at or under `p`, with its modification time (0 where `p` does not exist).
 * Files only: a folder's time changes when anything is created in it, such as Python's bytecode
 * cache (the PyTorch peer's tests import src/main/services/bundle/python), which is skipped too.
 */
function newest(p: string): { file: string; at: number } {
  if (!fs.existsSync(p)) return { file: p, at: 0 };
  const all = fs.statSync(p).isDirectory()
    ? fs.readdirSync(p, { recursive: true, encoding: 'utf8' }).filter((rel) => !rel.split(path.sep).includes('__pycache__')).map((rel) => path.join(p, rel))
    : [p];
  return all
    .map((file) => ({ file, stat: fs.statSync(file) }))
    .filter(({ stat }) => stat.isFile())
    .map(({ file, stat }) => ({ file, at: stat.mtimeMs }))
    .reduce((a, b) => (b.at > a.at ? b : a), { file: p, at: 0 });
}

/** What the build reads: the sources and the build's own configuration (resources are read at run time). */
const INPUTS = ['src', 'electron.vite.config.ts', 'package.json', 'tsconfig.json', 'tsconfig.node.json', 'tsconfig.web.json'];
/** What the build writes (the CLI is one of its outputs). */
const BUILT = path.join(repoRoot, 'out', 'main', 'cli.js');

export default function setup(): void {
  const builtAt = fs.existsSync(BUILT) ? fs.statSync(BUILT).mtimeMs : 0;
  const sources = INPUTS.map((p) => newest(path.join(repoRoot, p))).reduce((a, b) => (b.at > a.at ? b : a));
  if (sources.at <= builtAt) return;
  const changed = path.relative(repoRoot, sources.file);
  process.stderr.write(`[build-setup] the build is older than the sources (${changed}, changed ${new Date(sources.at).toISOString()}): running electron-vite build\n`);
  execFileSync(process.execPath, [path.join(repoRoot, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
