// Vitest's global setup: the tests that spawn `loupe` (the CLI's, the fault-injection and soak
// tests, and browser mode in the end-to-end tests) run the built app, as a user does. So that
// they always test this tree, the build is brought up to date first when any file it is made
// from is newer than it (`npm test` has just built, so there it does nothing).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// (Not test/helpers.ts's repoRoot: that module registers test hooks, which a global setup cannot.)
const repoRoot = path.resolve(import.meta.dirname, '..');

/** The newest modification time of `p` or of any file under it (0 where it does not exist). */
function newest(p: string): number {
  if (!fs.existsSync(p)) return 0;
  const stat = fs.statSync(p);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...fs.readdirSync(p, { recursive: true, encoding: 'utf8' }).map((rel) => fs.statSync(path.join(p, rel)).mtimeMs));
}

/** What the build reads: the sources and the build's own configuration (resources are read at run time). */
const INPUTS = ['src', 'electron.vite.config.ts', 'package.json', 'tsconfig.json', 'tsconfig.node.json', 'tsconfig.web.json'];
/** What the build writes (the CLI is one of its outputs). */
const BUILT = path.join(repoRoot, 'out', 'main', 'cli.js');

export default function setup(): void {
  const builtAt = fs.existsSync(BUILT) ? fs.statSync(BUILT).mtimeMs : 0;
  const sourcesAt = Math.max(...INPUTS.map((p) => newest(path.join(repoRoot, p))));
  if (sourcesAt <= builtAt) return;
  process.stderr.write(`[build-setup] the build is older than the sources: running electron-vite build\n`);
  execFileSync(process.execPath, [path.join(repoRoot, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
