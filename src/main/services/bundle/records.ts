// The bundle's queries: the project's stable id (kept in meta), a run's data snapshot with each
// image's file, and the images and classes an import checks a bundle against.

import { randomUUID } from 'node:crypto';
import type { Split } from '../../../shared/types';
import type { DB } from '../../store/database';

const PROJECT_ID = 'project_id';

/** The project's stable id, or null before the first bundle made one. */
export function projectId(db: DB): string | null {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(PROJECT_ID) as { value: string } | undefined;
  return row?.value ?? null;
}

/** The project's id, made once (a random UUID) and kept: a bundle names the project it came from. */
export function ensureProjectId(db: DB): string {
  return db.transaction(() => {
    const id = projectId(db);
    if (id) return id;
    const made = randomUUID();
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(PROJECT_ID, made);
    return made;
  })();
}

/** A run's snapshot: each image it saw, its file, its class then and its split. */
export function runSnapshotFiles(db: DB, runId: number): { imageId: number; hash: string; ext: string; classId: number; split: Split }[] {
  return db
    .prepare(`SELECT r.image_id AS imageId, i.hash, i.ext, r.class_id AS classId, r.split FROM run_images r JOIN images i ON i.id = r.image_id WHERE r.run_id = ? ORDER BY r.image_id`)
    .all(runId) as { imageId: number; hash: string; ext: string; classId: number; split: Split }[];
}

/** Every image ever imported (removed ones too), by content hash. */
export function imagesByHash(db: DB): Map<string, { id: number; hash: string; ext: string; removed: number | null }> {
  const rows = db.prepare('SELECT id, hash, ext, removed_at AS removed FROM images').all() as { id: number; hash: string; ext: string; removed: number | null }[];
  return new Map(rows.map((r) => [r.hash, r]));
}

export function classIds(db: DB): Set<number> {
  return new Set((db.prepare('SELECT id FROM classes').all() as { id: number }[]).map((c) => c.id));
}

/** The runs trained by PyTorch (loupe import-run), newest first. */
export function importedRunIds(db: DB): number[] {
  return (db.prepare("SELECT id FROM runs WHERE backend = 'pytorch' ORDER BY id DESC").all() as { id: number }[]).map((r) => r.id);
}
