#!/usr/bin/env node
// `loupe` / `npx loupe`: runs the built CLI. `npm install` builds it (the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { requireSupportedNode } from './node-check.js';

requireSupportedNode('loupe');

const cli = fileURLToPath(new URL('../out/main/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('loupe: the CLI is not built yet. Run "npm run build" in the Loupe folder.\n');
  process.exit(1);
}
await import(pathToFileURL(cli).href);
