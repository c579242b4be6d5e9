// Near-duplicate pairs from hashes and features: the hash alone decides close matches, features
// decide (and only they) the farther ones, a contradicting feature vetoes a match at the hash's
// limit, and a project's cached features are found and read as the extraction wrote them.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedFeatures } from '../../../src/main/services/backbones';
import { CONTRADICTING_FEATURES, HASH_ALONE, HASH_UNLESS_CONTRADICTED, HASH_WITH_FEATURES, nearDuplicateGroups, SAME_FEATURES } from '../../../src/main/services/doctor/duplicates';
import { standardise } from '../../../src/main/services/features/standardise';
import { closeHashPairs } from '../../../src/main/services/doctor/close-hashes';
import { closePairs } from '../../../src/main/services/doctor/close-pairs';
import { seededRandom } from '../../../src/main/services/rng';
import { hamming, hashWords, perceptualHashes } from '../../../src/main/services/doctor/image-stats';
import { newProject } from '../import/import-helpers';
import { scene } from './doctor-helpers';

/** A hash `bits` bits away from `base` (the lowest bits flipped), as hex. */
function flipBits(base: bigint, bits: number): string {
  return (base ^ ((1n << BigInt(bits)) - 1n)).toString(16).padStart(16, '0');
}

function words(hexes: string[]): Int32Array {
  const out = new Int32Array(hexes.length * 2);
  hexes.forEach((h, i) => out.set(hashWords(h), 2 * i));
  return out;
}

const unit = (values: number[]) => {
  const v = Float32Array.from(values);
  const norm = Math.hypot(...values);
  return v.map((x) => x / norm);
};

describe('near-duplicate pairs', () => {
  const base = 0x0123456789abcdefn;
  const far = '0'.repeat(16); // mirror hashes that match nothing
  const split = (i: number) => (i === 0 ? 'train' : 'test');

  it('joins close hashes without features, and leaves farther ones to the features', async () => {
    const hashes = [flipBits(base, 0), flipBits(base, HASH_ALONE), flipBits(base, HASH_WITH_FEATURES)];
    const w = words(hashes);
    expect(hamming(w, 0, 1)).toBe(HASH_ALONE);
    const items = hashes.map((_, index) => ({ index, split: split(index) }));
    expect(await nearDuplicateGroups(items, w, words(hashes.map(() => far)))).toEqual([{ members: [0, 1], similarity: 1 - HASH_ALONE / 64, crossSplit: true }]);

    // With agreeing features, the farther copy joins too; with the same features but one bit
    // more, nothing does.
    const same = unit([1, 2, 3]);
    const withFeatures = items.map((it) => ({ ...it, vector: same }));
    expect((await nearDuplicateGroups(withFeatures, w, words(hashes.map(() => far))))[0].members).toEqual([0, 1, 2]);
    const beyond = words([flipBits(base, 0), flipBits(base, HASH_WITH_FEATURES + 2)]);
    expect(await nearDuplicateGroups(withFeatures.slice(0, 2), beyond, words([far, far]))).toEqual([]);
  });

  it('needs agreeing features between the limits, and a contradicting one vetoes a match at the hash limit', async () => {
    const hashes = [flipBits(base, 0), flipBits(base, HASH_UNLESS_CONTRADICTED), flipBits(base, 16)];
    const w = words(hashes);
    const mirror = words(hashes.map(() => far));
    const items = (vectors: Float32Array[]) => vectors.map((vector, index) => ({ index, split: 'train', vector }));
    const a = unit([1, 0, 0]);
    const against = unit([-1, 0.2, 0]); // cosine far below CONTRADICTING_FEATURES
    const other = unit([0, 0, 1]);
    const nearly = unit([1, Math.sqrt(1 / SAME_FEATURES ** 2 - 1) * 0.9, 0]); // cosine just above SAME_FEATURES
    // 0-1 and 1-2 are at the limit and contradicted, 0-2 further and not confirmed.
    expect(await nearDuplicateGroups(items([a, against, other]), w, mirror)).toEqual([]);
    expect((await nearDuplicateGroups(items([a, a, nearly]), w, mirror))[0].members).toEqual([0, 1, 2]);
    expect(CONTRADICTING_FEATURES).toBeLessThan(SAME_FEATURES);
  });

  it('matches a mirrored image through the mirror hash', async () => {
    const pixels = scene(7);
    const luma = new Float32Array(64 * 64);
    const mirrored = new Float32Array(64 * 64);
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 64; x++) {
        const i = (y * 64 + x) * 3;
        luma[y * 64 + x] = mirrored[y * 64 + 63 - x] = 0.299 * pixels[i] + 0.587 * pixels[i + 1] + 0.114 * pixels[i + 2];
      }
    }
    const original = perceptualHashes(luma, 64, 64);
    const copy = perceptualHashes(mirrored, 64, 64);
    expect(copy.phash).toBe(original.phashMirror);
    expect(copy.phash).not.toBe(original.phash);
    const groups = await nearDuplicateGroups(
      [
        { index: 0, split: 'train' },
        { index: 1, split: 'val' },
      ],
      words([original.phash, copy.phash]),
      words([original.phashMirror, copy.phashMirror]),
    );
    expect(groups).toEqual([{ members: [0, 1], similarity: 1, crossSplit: true }]);
  });

  it('standardises features so that what every image shares does not make them alike', () => {
    // Three vectors alike in their large shared part and different in the rest.
    const vectors = [unit([10, 1, 0]), unit([10, 0, 1]), unit([10, -1, -1])];
    const dot = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + v * y[i], 0);
    expect(dot(vectors[0], vectors[1])).toBeGreaterThan(0.98);
    standardise(vectors);
    expect(dot(vectors[0], vectors[1])).toBeLessThan(0.5);
    for (const v of vectors) expect(Math.hypot(...v)).toBeCloseTo(1, 5);
  });
});

describe('cached features', () => {
  it('reads the cache holding the most of the images, normalised, and none where no cache is', () => {
    const project = newProject();
    expect(cachedFeatures(project, ['a'.repeat(64)])).toBeNull();
    const write = (name: string, keys: string[], rows: number[][], meta: object) => {
      const dir = path.join(project.paths.cache, name);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta));
      fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(keys));
      fs.writeFileSync(path.join(dir, 'features.f32'), Buffer.from(Float32Array.from(rows.flat()).buffer));
    };
    const [a, b, c] = ['a', 'b', 'c'].map((x) => x.repeat(64));
    write('features-one-128', [a], [[3, 4]], { name: 'one', resolution: 128, features: 2 });
    write('features-two-96', [a, `${a}:flip`, b], [[3, 4], [0, 1], [0, 2]], { name: 'two', resolution: 96, features: 2 });
    // A fine-tuning cut's cache holds spatial maps, not pooled features: never used.
    write('features-two-96-cut-x', [a, b, c], [[1, 1], [1, 1], [1, 1]], { name: 'two', resolution: 96, features: 2, cut: 'x' });
    const found = cachedFeatures(project, [a, b, c])!;
    expect(found).toMatchObject({ backbone: 'two', resolution: 96, features: 2 });
    expect([...found.vectors.keys()]).toEqual([a, b]);
    expect([...found.vectors.get(a)!]).toEqual([0.6000000238418579, 0.800000011920929]);
    expect([...found.vectors.get(b)!]).toEqual([0, 1]);
  });
});

describe('close hash pairs', () => {
  it('finds exactly the pairs within the limit, directly or through the mirror hash, over several blocks', async () => {
    const random = seededRandom(11);
    const n = 700; // more than one block of rows
    const w = Int32Array.from({ length: 2 * n }, () => (random() * 2 ** 32) | 0);
    const m = Int32Array.from({ length: 2 * n }, () => (random() * 2 ** 32) | 0);
    // Plant close pairs: copies of a hash with a few bits flipped, and one through the mirror.
    for (const [i, j, flip] of [[3, 650, 5], [10, 11, 20], [400, 20, 21]] as const) {
      w[2 * j] = w[2 * i] ^ ((1 << flip) - 1);
      w[2 * j + 1] = w[2 * i + 1];
    }
    m[2 * 600] = w[2 * 100] ^ 0b111;
    m[2 * 600 + 1] = w[2 * 100 + 1];
    const found: string[] = [];
    await closeHashPairs(w, m, 20, (i, j) => found.push(`${i}-${j}`));
    const expected: string[] = [];
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) if (Math.min(hamming(w, i, j), hamming(w, i, j, m)) <= 20) expected.push(`${i}-${j}`);
    }
    expect(found.sort()).toEqual(expected.sort());
    expect(found).toEqual(expect.arrayContaining(['3-650', '10-11', '100-600']));
    expect(found).not.toContain('20-400');
  });

  it('with features, finds every pair the rules can join: all within the strong limit, and those within the near limit whose features reach the cosine', async () => {
    const random = seededRandom(23);
    const n = 600; // more than one block of rows
    const dim = 96; // more than the subspace the bound is taken in
    const gauss = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
    const w = new Int32Array(2 * n);
    const m = Int32Array.from({ length: 2 * n }, () => (random() * 2 ** 32) | 0);
    const vectors: (Float32Array | undefined)[] = [];
    // Groups of 6 around a shared hash and a shared direction: members lie 0 to 24 bits and
    // cosines from about 0.3 to 0.95 apart, so every case of the rules occurs; some lack features.
    for (let i = 0; i < n; i++) {
      const g = Math.floor(i / 6) * 6;
      if (i === g) {
        w[2 * i] = (random() * 2 ** 32) | 0;
        w[2 * i + 1] = (random() * 2 ** 32) | 0;
        vectors.push(unit(Array.from({ length: dim }, gauss)));
      } else {
        let lo = w[2 * g];
        let hi = w[2 * g + 1];
        for (let f = Math.floor(random() * 13); f > 0; f--) {
          const bit = Math.floor(random() * 64);
          if (bit < 32) lo ^= 1 << bit;
          else hi ^= 1 << (bit - 32);
        }
        w[2 * i] = lo;
        w[2 * i + 1] = hi;
        const noise = 0.2 + random() * 1.2;
        const base = vectors[g]!;
        vectors.push(random() < 0.1 ? undefined : unit(Array.from({ length: dim }, (_, x) => base[x] + (noise * gauss()) / Math.sqrt(dim))));
      }
    }
    const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, x, k) => s + x * b[k], 0);
    const found: string[] = [];
    await closePairs(w, m, 20, 8, { vectors, minCosine: 0.75 }, (i, j) => found.push(`${i}-${j}`));
    const found1 = new Set(found);
    expect(found1.size).toBe(found.length);
    const must: string[] = [];
    let between = 0;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const d = Math.min(hamming(w, i, j), hamming(w, i, j, m));
        const vi = vectors[i];
        const vj = vectors[j];
        const alike = vi !== undefined && vj !== undefined && cos(vi, vj) >= 0.75;
        if (d <= 8 || (d <= 20 && alike)) must.push(`${i}-${j}`);
        if (d > 8 && d <= 20 && alike) between += 1;
        // Nothing beyond the near limit, nor an unconfirmable pair between the limits.
        if (found1.has(`${i}-${j}`)) expect(d <= 8 || (d <= 20 && vi !== undefined && vj !== undefined)).toBe(true);
      }
    }
    expect(between).toBeGreaterThan(20);
    expect(found).toEqual(expect.arrayContaining(must));
    // The bound leaves few pairs to judge beyond those that must be judged.
    expect(found.length).toBeLessThan(must.length * 3);
  });
});
