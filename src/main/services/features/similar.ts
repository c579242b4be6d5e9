// "More like this": the images nearest to one image by its backbone features, from the project's
// cached features (the doctor's standardised cosine, features/standardise.ts), by exact search
// over all of them (features/matrix.ts). The standardised matrix is kept in memory per project
// while its images and cache stay the same, so only the first query pays for reading it. An image
// from outside the project (dropped or chosen) goes through the same backbone at the cache's
// resolution first, unless the project holds the same file.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import type { SimilarImages } from '../../../shared/types';
import type { Project } from '../../store/project';
import { cachedFeatures, FeatureExtractor, resolveBackbone } from '../backbones';
import { decodeToSpec } from '../pixels/pixel-pack';
import { FeatureMatrix } from './matrix';
import { liveHashes, liveHashOf } from './records';
import { standardise, type Standardiser } from './standardise';

export const DEFAULT_SIMILAR = 200;

interface Index {
  signature: string;
  backbone: string;
  resolution: number;
  fingerprint?: string;
  matrix: FeatureMatrix;
  standardiser: Standardiser;
  /** Image id of each matrix row, and the row of each image's content hash. */
  ids: Int32Array;
  rowOfHash: Map<string, number>;
}

const indexes = new WeakMap<Project, Index>();

/** The feature caches' files, by size and time: a new extraction changes them. */
function cacheFiles(project: Project): string {
  try {
    return fs
      .readdirSync(project.paths.cache)
      .filter((n) => n.startsWith('features-'))
      .sort()
      .map((n) => {
        try {
          const st = fs.statSync(path.join(project.paths.cache, n, 'features.f32'));
          return `${n}/${st.size}/${st.mtimeMs}`;
        } catch {
          return n;
        }
      })
      .join(',');
  } catch {
    return '';
  }
}

/** The project's standardised feature matrix, read again only when its images or its cache changed. */
export function similarityIndex(project: Project): Index {
  const rows = liveHashes(project.db);
  // What the index was made from, cheaply: the live images and the feature caches' files.
  const signature = [rows.length, rows.at(-1)?.id, rows.reduce((s, r) => s + r.id, 0), cacheFiles(project)].join(':');
  const kept = indexes.get(project);
  if (kept?.signature === signature) return kept;
  const features = cachedFeatures(project, rows.map((r) => r.hash));
  if (!features) {
    throw new LoupeError('NOT_FOUND', 'No backbone features are cached in this project: Extract features (Train → Backbones) or train with a backbone first.');
  }
  const withFeatures = rows.filter((r) => features.vectors.has(r.hash));
  // An image imported twice under two ids shares one vector: copy it, standardise each once.
  const seen = new Set<string>();
  const vectors = withFeatures.map((r) => {
    const v = features.vectors.get(r.hash)!;
    if (seen.has(r.hash)) return v.slice();
    seen.add(r.hash);
    return v;
  });
  const standardiser = standardise(vectors)!;
  const index: Index = {
    signature,
    backbone: features.backbone,
    resolution: features.resolution,
    fingerprint: features.fingerprint,
    matrix: FeatureMatrix.of(vectors, features.features),
    standardiser,
    ids: Int32Array.from(withFeatures, (r) => r.id),
    rowOfHash: new Map(withFeatures.map((r, i) => [r.hash, i])),
  };
  indexes.set(project, index);
  return index;
}

/** The standardised features of an image file from outside the project, through the cache's backbone. */
async function fileFeatures(index: Index, bytes: Buffer): Promise<Float32Array> {
  const backbone = resolveBackbone(index.backbone);
  if (index.fingerprint && backbone.fingerprint !== index.fingerprint) {
    throw new LoupeError('NOT_FOUND', `The cached features were made with other files of ${backbone.title} than the ones here: extract the features again.`);
  }
  let pixels: Buffer;
  try {
    pixels = await decodeToSpec(bytes, { width: index.resolution, height: index.resolution, channels: 3, fit: 'cover' });
  } catch (err) {
    throw new LoupeError('INVALID_INPUT', `The image could not be read: ${(err as Error).message}`);
  }
  const extractor = await FeatureExtractor.create(backbone, index.resolution);
  try {
    const v = await extractor.run(Float32Array.from(pixels), 1);
    let norm = 0;
    for (const x of v) norm += x * x;
    norm = Math.sqrt(norm) || 1;
    // Unit length first, as the cache's rows are read (backbones/cached.ts), then standardised.
    return index.standardiser.apply(Float32Array.from(v, (x) => x / norm));
  } finally {
    await extractor.release();
  }
}

export interface SimilarQuery {
  imageId?: number;
  /** An image file's bytes (dropped or chosen outside the project). */
  file?: Buffer;
  limit?: number;
}

/** The images most like the query, most alike first (the query image itself left out). */
export async function similarImages(project: Project, query: SimilarQuery): Promise<SimilarImages> {
  const started = performance.now();
  const index = similarityIndex(project);
  const limit = query.limit ?? DEFAULT_SIMILAR;
  let vector: Float32Array;
  let self = -1;
  if (query.imageId !== undefined) {
    const hash = liveHashOf(project.db, query.imageId);
    if (hash === undefined) throw new LoupeError('NOT_FOUND', `There is no image #${query.imageId} in this project.`);
    const r = index.rowOfHash.get(hash);
    if (r === undefined) throw new LoupeError('NOT_FOUND', 'This image has no cached features yet: Extract features (Train → Backbones) again to include it.');
    vector = index.matrix.row(r);
    self = query.imageId;
  } else if (query.file) {
    const hash = createHash('sha256').update(query.file).digest('hex');
    const r = index.rowOfHash.get(hash);
    vector = r === undefined ? await fileFeatures(index, query.file) : index.matrix.row(r);
  } else {
    throw new LoupeError('INVALID_INPUT', 'Give an image of the project or an image file.');
  }
  const searched = performance.now();
  const nearest = await index.matrix.nearest(vector, limit, (row) => index.ids[row] === self);
  return {
    backbone: `${index.backbone} at ${index.resolution} px`,
    images: index.ids.length,
    ids: nearest.map((n) => index.ids[n.row]),
    similarities: nearest.map((n) => n.score),
    seconds: (performance.now() - started) / 1000,
    searchSeconds: (performance.now() - searched) / 1000,
  };
}
