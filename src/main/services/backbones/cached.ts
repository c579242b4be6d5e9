// The project's cached backbone features, read as they are (nothing is extracted here): for checks
// that use features where a run or Extract features already made them, and say so where not.

import fs from 'node:fs';
import path from 'node:path';
import type { Project } from '../../store/project';

export interface CachedFeatures {
  /** The backbone's name and the resolution its features were extracted at. */
  backbone: string;
  resolution: number;
  features: number;
  /** The backbone files' fingerprint the cache was made with (absent in hand-made caches). */
  fingerprint?: string;
  /** Unit-length feature vector of each image found, by content hash. */
  vectors: Map<string, Float32Array>;
}

interface Meta {
  name: string;
  resolution: number;
  features: number;
  fingerprint?: string;
  cut?: string;
}

interface BestCache {
  dir: string;
  meta: Meta;
  keys: string[];
  hits: number;
}

/** The pooled-features cache whose index holds the most of `hashes` (its vectors unread), or null. */
function bestCache(project: Project, hashes: string[]): BestCache | null {
  let names: string[];
  try {
    names = fs.readdirSync(project.paths.cache).filter((n) => n.startsWith('features-'));
  } catch {
    return null;
  }
  const wanted = new Set(hashes);
  let best: BestCache | null = null;
  for (const name of names.sort()) {
    const dir = path.join(project.paths.cache, name);
    try {
      const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) as Meta;
      if (meta.cut || !(meta.features > 0)) continue;
      const rows = Math.floor(fs.statSync(path.join(dir, 'features.f32')).size / (meta.features * 4));
      const keys = (JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as string[]).slice(0, rows);
      const hits = keys.reduce((n, k) => n + (wanted.has(k) ? 1 : 0), 0);
      if (hits > 0 && (!best || hits > best.hits)) best = { dir, meta, keys, hits };
    } catch {
      // Being written, or not a cache: skip it.
    }
  }
  return best;
}

/** Which cache cachedFeatures would read, and which of `hashes` it holds, without reading any vector. */
export function cachedFeatureIndex(project: Project, hashes: string[]): { backbone: string; resolution: number; features: number; hashes: Set<string> } | null {
  const best = bestCache(project, hashes);
  if (!best) return null;
  const wanted = new Set(hashes);
  return { backbone: best.meta.name, resolution: best.meta.resolution, features: best.meta.features, hashes: new Set(best.keys.filter((k) => wanted.has(k))) };
}

/** The pooled-features cache holding the most of `hashes` (null when none holds any), its vectors normalised. */
export function cachedFeatures(project: Project, hashes: string[]): CachedFeatures | null {
  const best = bestCache(project, hashes);
  const wanted = new Set(hashes);
  if (!best) return null;
  const { dir, meta, keys } = best;
  const rowBytes = meta.features * 4;
  const vectors = new Map<string, Float32Array>();
  const fd = fs.openSync(path.join(dir, 'features.f32'), 'r');
  try {
    const buffer = Buffer.alloc(rowBytes);
    keys.forEach((key, row) => {
      if (!wanted.has(key) || vectors.has(key)) return;
      fs.readSync(fd, buffer, 0, rowBytes, row * rowBytes);
      const v = new Float32Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + rowBytes));
      let norm = 0;
      for (let i = 0; i < v.length; i++) norm += v[i] * v[i];
      norm = Math.sqrt(norm);
      if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
      vectors.set(key, v);
    });
  } finally {
    fs.closeSync(fd);
  }
  return { backbone: meta.name, resolution: meta.resolution, features: meta.features, fingerprint: meta.fingerprint, vectors };
}
