// The project's own records: images, labels, classes, the undo log, and the meta values the
// root services keep (split seed and ratios). Only this file of the root services writes SQL;
// labeling.ts, history.ts, summary.ts, classes.ts and splits.ts call its functions.

import type { DB } from '../store/database';

/** An image's file name and where it was imported from, removed or not. */
export function imageSource(db: DB, id: number): { name: string; path: string | null } {
  return db.prepare('SELECT original_name AS name, source_path AS path FROM images WHERE id = ?').get(id) as { name: string; path: string | null };
}

export function classNameById(db: DB, id: number): string {
  return db.prepare('SELECT name FROM classes WHERE id = ?').pluck().get(id) as string;
}
