#!/usr/bin/env node
// `npm start`: the desktop app where Electron's binary is installed, browser mode otherwise.
// Extra arguments go to `loupe serve` in browser mode (e.g. `npm start -- --port 8080`).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireSupportedNode } from './node-check.js';

requireSupportedNode('npm start');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });

if (!fs.existsSync(path.join(root, 'out', 'main', 'cli.js')) || !fs.existsSync(path.join(root, 'out', 'renderer', 'index.html'))) {
  const built = run(process.execPath, [path.join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build']);
  if (built.status !== 0) process.exit(built.status ?? 1);
}

function electronBinary() {
  try {
    const dir = path.join(root, 'node_modules', 'electron');
    const rel = fs.readFileSync(path.join(dir, 'path.txt'), 'utf8');
    const bin = path.join(dir, 'dist', rel);
    return fs.existsSync(bin) ? bin : null;
  } catch {
    return null;
  }
}

const electron = electronBinary();
if (electron) {
  // better-sqlite3 is a native module built for Node's ABI; Electron needs its own build.
  const prepared = run(process.execPath, [path.join(root, 'scripts', 'electron-native.js')]);
  if (prepared.status === 0) {
    const child = spawn(electron, [root, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
    child.on('exit', (code) => process.exit(code ?? 0));
    for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  } else {
    console.log('Could not build the SQLite module for Electron; starting browser mode instead.');
    startBrowserMode();
  }
} else {
  console.log("Electron's binary is not installed (run `npx install-electron` where GitHub is reachable); starting browser mode instead.");
  startBrowserMode();
}

function startBrowserMode() {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'loupe.js'), 'serve', ...process.argv.slice(2)], {
    cwd: root,
    stdio: 'inherit',
  });
  child.on('exit', (code) => process.exit(code ?? 0));
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
}
