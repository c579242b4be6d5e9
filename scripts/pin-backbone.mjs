#!/usr/bin/env node
// Pins a backbone copy's checksums in resources/backbones.json from a folder holding that copy:
//   npm run backbones:pin -- <backbone id> <copy name> <folder>
// For the official MobileNet v1: fetch every file the registry lists from the copy's url into a
// folder (e.g. with curl, checking the release is the one you mean), then run this. It writes the
// sha256 and size of every listed file; Loupe then downloads and verifies that copy by itself.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [id, copyName, folder] = process.argv.slice(2);
if (!id || !copyName || !folder) {
  console.error('Usage: npm run backbones:pin -- <backbone id> <copy name> <folder>');
  process.exit(2);
}
const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'resources', 'backbones.json');
const registry = JSON.parse(fs.readFileSync(file, 'utf8'));
const copy = registry.backbones.find((b) => b.id === id)?.copies.find((c) => c.name === copyName);
if (!copy) {
  console.error(`resources/backbones.json has no copy "${copyName}" of "${id}".`);
  process.exit(1);
}
// The folder's model.json must name exactly the shards the registry lists.
const manifest = JSON.parse(fs.readFileSync(path.join(folder, 'model.json'), 'utf8')).weightsManifest.flatMap((g) => g.paths);
const listed = copy.files.map((f) => f.path).filter((p) => p !== 'model.json');
const missing = manifest.filter((p) => !listed.includes(p));
if (missing.length > 0) {
  console.error(`The folder's model.json names files the registry does not list: ${missing.join(', ')}. Update the file list first.`);
  process.exit(1);
}
let total = 0;
copy.files = copy.files
  .filter((f) => f.path === 'model.json' || manifest.includes(f.path))
  .map((f) => {
    const bytes = fs.readFileSync(path.join(folder, f.path));
    total += bytes.length;
    return { path: f.path, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
  });
copy.bytes = total;
fs.writeFileSync(file, JSON.stringify(registry, null, 2) + '\n');
console.log(`Pinned ${copy.files.length} files (${(total / 1e6).toFixed(1)} MB) of ${id}/${copyName}.`);
