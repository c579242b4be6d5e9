// Icons are lucide SVGs, never emoji or dingbat glyphs: those draw as empty boxes where no
// emoji font is installed (a bare Linux desktop, a headless browser). Checked in the sources
// and in the built renderer, whose third-party modules are left out (Svelte's own docs hold
// emoji in comments that never reach the page).

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers';

/** Emoji and other pictographs, and the Dingbats block (✓ ✎ ✗ …). */
const PICTOGRAPH = /[\p{Extended_Pictographic}\u2700-\u27bf]/gu;

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

function pictographs(text: string, where: string): string[] {
  return [...text.matchAll(PICTOGRAPH)].map((m) => `${where}: ${m[0]} (U+${m[0].codePointAt(0)!.toString(16).toUpperCase()})`);
}

/** The app's own part of a bundle: the modules rollup marks with a `// path` line, outside node_modules. */
function ownCode(bundle: string): string {
  const parts = bundle.split(/^\/\/ (\S+)$/m);
  if (parts.length === 1) return bundle; // no module markers (minified): everything
  let own = parts[0];
  for (let i = 1; i < parts.length; i += 2) if (!parts[i].includes('node_modules/')) own += parts[i + 1];
  return own;
}

describe('renderer icons', () => {
  it('uses no emoji or dingbat glyphs in the renderer sources', () => {
    const dir = path.join(repoRoot, 'src', 'renderer');
    const found = files(dir).flatMap((f) => pictographs(fs.readFileSync(f, 'utf8'), path.relative(repoRoot, f)));
    expect(found).toEqual([]);
  });

  const built = path.join(repoRoot, 'out', 'renderer');
  it.runIf(fs.existsSync(built))('ships no emoji or dingbat glyphs in the built renderer', () => {
    const found = files(built)
      .filter((f) => /\.(js|html|css)$/.test(f))
      .flatMap((f) => {
        const text = fs.readFileSync(f, 'utf8');
        return pictographs(f.endsWith('.js') ? ownCode(text) : text, path.relative(repoRoot, f));
      });
    expect(found).toEqual([]);
  });
});
