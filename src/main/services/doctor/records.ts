// The data doctor's SQL: the live images it checks, the figures it keeps per image, its last
// report and the findings people dismissed.

import type { DoctorReport, Split } from '../../../shared/types';
import type { DB } from '../../store/database';
import type { ImageStats } from './image-stats';

export interface DoctorRow {
  id: number;
  hash: string;
  ext: string;
  name: string;
  width: number;
  height: number;
  split: Split;
  classId: number | null;
  label: string | null;
}

/** Every live image with its split and label, in import order. */
export function liveImages(db: DB): DoctorRow[] {
  return db
    .prepare(
      `SELECT i.id, i.hash, i.ext, i.original_name AS name, i.width, i.height, i.split, l.class_id AS classId, c.name AS label
         FROM images i LEFT JOIN labels l ON l.image_id = i.id LEFT JOIN classes c ON c.id = l.class_id
        WHERE i.removed_at IS NULL ORDER BY i.id`,
    )
    .all() as DoctorRow[];
}

/** The live classes (also those without images), in their order. */
export function liveClasses(db: DB): { id: number; name: string }[] {
  return db.prepare('SELECT id, name FROM classes ORDER BY position, id').all() as { id: number; name: string }[];
}

/** Stored figures by image id (null stats: the image could not be read). */
export function storedStats(db: DB): Map<number, ImageStats | null> {
  const rows = db
    .prepare('SELECT image_id AS id, phash, phash_mirror AS phashMirror, mean, std, sharpness, colour, error FROM doctor_images')
    .all() as (ImageStats & { id: number; error: string | null })[];
  return new Map(rows.map(({ id, error, ...stats }) => [id, error === null ? stats : null]));
}

/** Stores figures read now (one transaction per batch). */
export function storeStats(db: DB, batch: { id: number; stats: ImageStats | null; error: string | null }[]): void {
  const insert = db.prepare(
    `INSERT OR REPLACE INTO doctor_images (image_id, phash, phash_mirror, mean, std, sharpness, colour, error, checked_at)
     VALUES (@id, @phash, @phashMirror, @mean, @std, @sharpness, @colour, @error, @now)`,
  );
  const now = Date.now();
  db.transaction(() => {
    for (const { id, stats, error } of batch) {
      const s = stats ?? { phash: null, phashMirror: null, mean: null, std: null, sharpness: null, colour: null };
      insert.run({ id, ...s, error, now });
    }
  })();
}

export function dismissedKeys(db: DB): Set<string> {
  return new Set((db.prepare('SELECT key FROM doctor_dismissals').all() as { key: string }[]).map((r) => r.key));
}

/** Keeps `report` as the project's last doctor report (the earlier ones go). */
export function storeReport(db: DB, report: DoctorReport): void {
  db.transaction(() => {
    db.prepare('DELETE FROM doctor_reports').run();
    db.prepare('INSERT INTO doctor_reports (report, created_at) VALUES (?, ?)').run(JSON.stringify(report), report.createdAt);
  })();
}

export function lastReport(db: DB): DoctorReport | null {
  const row = db.prepare('SELECT report FROM doctor_reports ORDER BY id DESC LIMIT 1').get() as { report: string } | undefined;
  return row ? (JSON.parse(row.report) as DoctorReport) : null;
}

/** The images a run trained on (its snapshot's train split). */
export function runTrainImages(db: DB, runId: number): Set<number> {
  const rows = db.prepare("SELECT image_id AS id FROM run_images WHERE run_id = ? AND split = 'train'").all(runId) as { id: number }[];
  return new Set(rows.map((r) => r.id));
}
