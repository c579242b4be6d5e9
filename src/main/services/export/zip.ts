// One zip of an export folder, entries under `<name>/`. fflate: no dependencies, pure JS, 8 kB;
// an export is a few megabytes, so the zip is built in memory. Models are already dense, so
// weights are stored with light compression; text compresses well.

import fs from 'node:fs';
import path from 'node:path';
import { zipSync, type Zippable } from 'fflate';

/**
 * Writes `zipFile` holding every file under `dir` as `<name>/<relative path>`, through `tmp`
 * (renamed into place: the zip is complete or absent).
 */
export function zipFolder(dir: string, name: string, files: string[], zipFile: string, tmp = `${zipFile}.partial`): void {
  const entries: Zippable = {};
  for (const rel of files) {
    const data = new Uint8Array(fs.readFileSync(path.join(dir, rel)));
    const binary = /\.(onnx|bin)$/.test(rel);
    entries[`${name}/${rel.split(path.sep).join('/')}`] = [data, { level: binary ? 1 : 6 }];
  }
  fs.writeFileSync(tmp, zipSync(entries, { mtime: new Date() }));
  fs.renameSync(tmp, zipFile);
}
