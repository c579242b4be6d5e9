// Generated projects for evaluation tests: the stripe patterns of train-helpers.ts, or noisy
// colours (so plainly separable that even a small MLP is sure of them, whatever architecture
// changes come), with chosen images given a wrong label (planted label errors) and some left
// unlabeled (for suggestions).

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import { ensureClasses } from '../../../src/main/services/classes';
import { encodeGrayPng } from '../../../src/main/services/sample';
import { seededRandom } from '../../../src/main/services/rng';
import { Project } from '../../../src/main/store/project';
import { PATTERNS, patternPixels } from '../training/train-helpers';

export const COLORS = ['red', 'green', 'blue'] as const;
const RGB = [
  [200, 60, 60],
  [60, 190, 60],
  [60, 80, 210],
];

/** A noisy image of colour `cls`: a random tint of ±40 and per-pixel noise of ±30. */
export function colorPixels(cls: number, size: number, random: () => number): Buffer {
  const px = Buffer.alloc(size * size * 3);
  const tint = [0, 1, 2].map(() => (random() - 0.5) * 80);
  for (let i = 0; i < size * size; i++) {
    for (let c = 0; c < 3; c++) px[i * 3 + c] = Math.max(0, Math.min(255, RGB[cls][c] + tint[c] + (random() - 0.5) * 60));
  }
  return px;
}

export interface EvalProjectOptions {
  /** stripes: classes horizontal, vertical, diagonal; colors: red, green, blue. */
  look?: 'stripes' | 'colors';
  perClass: number;
  classes?: number;
  size?: number;
  seed?: number;
  /** Images (by class and index within it) labeled as another class: `{ cls, i, as }`. */
  mislabel?: { cls: number; i: number; as: number }[];
  /** Extra unlabeled images per class, in the train split. */
  unlabeledPerClass?: number;
}

export const SPLIT_OF = (i: number) => (['train', 'train', 'train', 'train', 'train', 'train', 'train', 'train', 'val', 'test'] as const)[i % 10];

/** Image names are `<class>_<i>.png` (labeled, as the image really is) and `unlabeled_<class>_<i>.png`. */
export async function makeEvalProject(dir: string, options: EvalProjectOptions): Promise<void> {
  const { look = 'stripes', perClass, classes = 3, size = 16, seed = 1, mislabel = [], unlabeledPerClass = 0 } = options;
  const names: readonly string[] = look === 'colors' ? COLORS : PATTERNS;
  const pixels = look === 'colors' ? colorPixels : patternPixels;
  const random = seededRandom(seed);
  const project = Project.create(dir, path.basename(dir, '.loupe'));
  try {
    const rows: { hash: string; bytes: number; cls: number; i: number; labeled: boolean }[] = [];
    for (let cls = 0; cls < classes; cls++) {
      for (let i = 0; i < perClass + unlabeledPerClass; i++) {
        const buf = await sharp(pixels(cls, size, random), { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
        const hash = createHash('sha256').update(buf).digest('hex');
        const file = path.join(dir, 'media', hash.slice(0, 2), `${hash}.png`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, buf);
        rows.push({ hash, bytes: buf.length, cls, i, labeled: i < perClass });
      }
    }
    const db = project.db;
    const insert = db.prepare(
      `INSERT OR IGNORE INTO images (hash, ext, format, width, height, channels, bytes, original_name, split, added_at)
       VALUES (?, 'png', 'png', ?, ?, 3, ?, ?, ?, 0)`,
    );
    const label = db.prepare("INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (?, ?, 'import', 0)");
    db.transaction(() => {
      const ids = ensureClasses(db, names.slice(0, classes));
      for (const r of rows) {
        const name = r.labeled ? `${names[r.cls]}_${r.i}.png` : `unlabeled_${names[r.cls]}_${r.i}.png`;
        const result = insert.run(r.hash, size, size, r.bytes, name, r.labeled ? SPLIT_OF(r.i) : 'train');
        if (!result.changes || !r.labeled) continue;
        const wrong = mislabel.find((m) => m.cls === r.cls && m.i === r.i);
        label.run(Number(result.lastInsertRowid), ids.get(names[wrong ? wrong.as : r.cls])!);
      }
    })();
    project.checkpoint();
  } finally {
    project.close();
  }
}

/**
 * A project of real handwritten digits (the `mnist` package, 28x28 grayscale), `perClass` of each
 * digit split 80/10/10, with a seeded `flipRate` of the labels changed to another random digit
 * (injected label errors). Returns the names of the images whose label was flipped.
 */
export async function makeDigitsProject(dir: string, options: { perClass: number; flipRate: number; classes?: number; seed?: number }): Promise<Set<string>> {
  const { perClass, flipRate, classes = 10, seed = 1 } = options;
  const digits = createRequire(import.meta.url)('mnist') as { raw: number[]; length: number }[];
  const random = seededRandom(seed);
  const project = Project.create(dir, path.basename(dir, '.loupe'));
  const flipped = new Set<string>();
  try {
    const db = project.db;
    const insert = db.prepare(
      `INSERT OR IGNORE INTO images (hash, ext, format, width, height, channels, bytes, original_name, split, added_at)
       VALUES (?, 'png', 'png', 28, 28, 1, ?, ?, ?, 0)`,
    );
    const label = db.prepare("INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (?, ?, 'import', 0)");
    const names = Array.from({ length: classes }, (_, d) => String(d));
    const pixels = new Uint8Array(28 * 28);
    db.transaction(() => {
      const ids = ensureClasses(db, names);
      for (let d = 0; d < classes; d++) {
        for (let i = 0; i < perClass; i++) {
          const raw = digits[d].raw;
          // Spread over the digit's samples, so small sets are not the first few alone.
          const k = Math.floor((i * digits[d].length) / perClass);
          for (let p = 0; p < pixels.length; p++) pixels[p] = Math.round(Math.min(1, Math.max(0, raw[k * pixels.length + p])) * 255);
          const buf = encodeGrayPng(28, 28, pixels);
          const hash = createHash('sha256').update(buf).digest('hex');
          const file = path.join(dir, 'media', hash.slice(0, 2), `${hash}.png`);
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, buf);
          const name = `${d}_${i}.png`;
          const result = insert.run(hash, buf.length, name, SPLIT_OF(i));
          if (!result.changes) continue;
          let given = d;
          if (random() < flipRate) {
            given = (d + 1 + Math.floor(random() * (classes - 1))) % classes;
            flipped.add(name);
          }
          label.run(Number(result.lastInsertRowid), ids.get(names[given])!);
        }
      }
    })();
    project.checkpoint();
  } finally {
    project.close();
  }
  return flipped;
}
