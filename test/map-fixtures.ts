// Projects with cached backbone features whose structure is known (clusters), for the map's
// tests: the fixture images (test/fixtures.ts) plus a features cache written as extraction
// writes one (cache/features-<name>/: meta.json, index.json, features.f32).

import fs from 'node:fs';
import path from 'node:path';
import { seededRandom } from '../src/main/services/rng';
import { Project } from '../src/main/store/project';
import { makeFixtureProject, type FixtureOptions } from './fixtures';

/** n feature rows (n x f) around `clusters` centres; row i belongs to cluster i % clusters. */
export function clusteredFeatures(n: number, f: number, clusters: number, seed = 1, spread = 0.15): Float32Array {
  const random = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  const centres = Array.from({ length: clusters }, () => Array.from({ length: f }, gauss));
  const rows = new Float32Array(n * f);
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) rows[i * f + j] = centres[i % clusters][j] + spread * gauss();
  return rows;
}

/** Writes a pooled-features cache for these image hashes (rows: hashes.length x f). */
export function writeFeatureCache(root: string, backbone: string, resolution: number, hashes: string[], rows: Float32Array, f: number): void {
  const dir = path.join(root, 'cache', `features-${backbone}-${resolution}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ name: backbone, resolution, features: f }));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(hashes));
  fs.writeFileSync(path.join(dir, 'features.f32'), Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength));
}

/** The hashes of a project's images, in id order. */
export function imageHashes(root: string): { id: number; hash: string }[] {
  const project = Project.open(root);
  try {
    return project.db.prepare('SELECT id, hash FROM images ORDER BY id').all() as { id: number; hash: string }[];
  } finally {
    project.close();
  }
}

/**
 * A fixture project whose images have cached features in `clusters` clusters (image i in cluster
 * i % clusters); `withFeatures` leaves the last images without (as if imported after extraction).
 */
export async function makeClusteredProject(
  dir: string,
  options: FixtureOptions & { clusters: number; features?: number; withFeatures?: number; seed?: number },
): Promise<{ ids: number[]; hashes: string[] }> {
  await makeFixtureProject(dir, options);
  const images = imageHashes(dir);
  const f = options.features ?? 16;
  const n = options.withFeatures ?? images.length;
  writeFeatureCache(dir, 'tiny', 64, images.slice(0, n).map((im) => im.hash), clusteredFeatures(n, f, options.clusters, options.seed), f);
  return { ids: images.map((im) => im.id), hashes: images.map((im) => im.hash) };
}
