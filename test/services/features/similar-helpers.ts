// A project whose nearest neighbours are known: 30 distinct generated scenes, a re-encoded and
// brightened copy of scene 7 in test, and the tiny test backbone's features cached for all.

import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { ensureFeatures, resolveBackbone } from '../../../src/main/services/backbones';
import { liveImages } from '../../../src/main/services/doctor/records';
import type { Project } from '../../../src/main/store/project';
import { tempDir } from '../../helpers';
import { makeTinyBackbone, TINY_ID, writeTinyRegistry } from '../backbones/backbone-helpers';
import { png, scene } from '../doctor/doctor-helpers';
import { put } from '../import/import-helpers';

/** Makes the tiny backbone findable (LOUPE_BACKBONE_REGISTRY, LOUPE_BACKBONE_DIR); returns the variables set. */
export async function tinyBackboneHere(): Promise<Record<string, string>> {
  const work = tempDir('loupe-similar-backbone-');
  const source = path.join(work, 'tiny-source');
  await makeTinyBackbone(source);
  const registry = path.join(work, 'backbones.json');
  writeTinyRegistry(registry, source);
  const dir = path.join(work, 'dir');
  fs.cpSync(source, path.join(dir, TINY_ID), { recursive: true });
  const env = { LOUPE_BACKBONE_REGISTRY: registry, LOUPE_BACKBONE_DIR: dir };
  Object.assign(process.env, env);
  return env;
}

/** The scene 7 copy as it is imported (train/cat/scene7.png's altered copy, test/cat/copy.jpg). */
export async function alteredCopy(): Promise<Buffer> {
  return sharp(await png(scene(8))).linear(1.1, 0).jpeg({ quality: 60 }).toBuffer();
}

/** The folder a similar-images project imports. */
export async function similarFolder(): Promise<string> {
  const dir = tempDir('loupe-similar-src-');
  for (let i = 0; i < 30; i++) put(dir, `train/${i % 2 ? 'cat' : 'dog'}/scene${i}.png`, await png(scene(i + 1)));
  put(dir, 'test/cat/copy.jpg', await alteredCopy());
  return dir;
}

/** Caches the tiny backbone's features for every image of the project (32 px). */
export async function cacheTinyFeatures(project: Project): Promise<void> {
  const rows = liveImages(project.db);
  await ensureFeatures(project, resolveBackbone(TINY_ID), 32, rows.map((r) => ({ hash: r.hash, ext: r.ext })));
}
