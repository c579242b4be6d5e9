// Projects for tests that exercise labeling and the UI without going through import:
// real image files in the content-addressed layout, rows inserted directly.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { ensureClasses } from '../src/main/services/classes';
import { Project } from '../src/main/store/project';

export interface FixtureOptions {
  count: number;
  classes?: string[];
  /** Label of image i (a class name), or undefined for unlabeled. */
  label?: (i: number) => string | undefined;
  name?: (i: number) => string;
  /** Distinct image files up to this many; beyond it, rows reuse (hard-link) these files. */
  distinct?: number;
}

export async function makeFixtureProject(dir: string, options: FixtureOptions): Promise<void> {
  const project = Project.create(dir, path.basename(dir, '.loupe'));
  try {
    const distinct = Math.min(options.count, options.distinct ?? options.count);
    const files: { buf: Buffer; file: string }[] = [];
    for (let i = 0; i < distinct; i++) {
      const buf = await sharp({
        create: { width: 32, height: 32, channels: 3, background: { r: i % 256, g: (Math.floor(i / 256) * 29) % 256, b: (i * 7) % 251 } },
      })
        .png()
        .toBuffer();
      files.push({ buf, file: '' });
    }
    const db = project.db;
    const insert = db.prepare(
      `INSERT INTO images (hash, ext, format, width, height, channels, bytes, original_name, split, added_at)
       VALUES (?, 'png', 'png', 32, 32, 3, ?, ?, ?, 0)`,
    );
    const label = db.prepare("INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (?, ?, 'import', 0)");
    db.transaction(() => {
      const classIds = ensureClasses(db, options.classes ?? []);
      for (let i = 0; i < options.count; i++) {
        const src = files[i % distinct];
        // Hashes must be unique per row; beyond `distinct`, derive one (the bytes are shared).
        const hash = createHash('sha256').update(src.buf).update(i < distinct ? '' : String(i)).digest('hex');
        const file = path.join(dir, 'media', hash.slice(0, 2), `${hash}.png`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        if (i < distinct) {
          fs.writeFileSync(file, src.buf);
          src.file = file;
        } else fs.linkSync(src.file, file);
        const split = (['train', 'train', 'train', 'train', 'train', 'train', 'train', 'train', 'val', 'test'] as const)[i % 10];
        const id = Number(insert.run(hash, src.buf.length, options.name?.(i) ?? `img_${String(i).padStart(5, '0')}.png`, split).lastInsertRowid);
        const cls = options.label?.(i);
        if (cls !== undefined) label.run(id, classIds.get(cls)!);
      }
    })();
    project.checkpoint();
  } finally {
    project.close();
  }
}
