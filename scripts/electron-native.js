#!/usr/bin/env node
// Builds better-sqlite3 for Electron's ABI into native/electron-<version>/, leaving the Node
// build in node_modules untouched (the CLI, browser mode and the tests keep using that one).
// The desktop shell loads this copy through better-sqlite3's `nativeBinding` option.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const electronVersion = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', 'electron', 'package.json'), 'utf8')).version;
const target = path.join(root, 'native', `electron-${electronVersion}`, 'better_sqlite3.node');
if (fs.existsSync(target)) process.exit(0);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-electron-native-'));
try {
  const pkg = path.join(work, 'better-sqlite3');
  fs.cpSync(path.join(root, 'node_modules', 'better-sqlite3'), pkg, {
    recursive: true,
    filter: (src) => !src.includes(`${path.sep}build${path.sep}`),
  });
  const bin = (name) => path.join(root, 'node_modules', '.bin', name);
  const common = { cwd: pkg, stdio: 'inherit', shell: process.platform === 'win32' };
  console.log(`Preparing better-sqlite3 for Electron ${electronVersion}…`);
  let r = spawnSync(bin('prebuild-install'), ['--runtime=electron', `--target=${electronVersion}`, `--arch=${process.arch}`], common);
  if (r.status !== 0) {
    r = spawnSync(
      'npx',
      ['--yes', 'node-gyp', 'rebuild', '--release', '--runtime=electron', `--target=${electronVersion}`, '--dist-url=https://electronjs.org/headers'],
      common,
    );
  }
  const built = path.join(pkg, 'build', 'Release', 'better_sqlite3.node');
  if (r.status !== 0 || !fs.existsSync(built)) process.exit(1);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(built, target);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
