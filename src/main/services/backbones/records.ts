// What the backbones service reads from the project database.

import type { DB } from '../../store/database';

/** Every live image's file and split, and whether it is labeled (1) or not (0). */
export function liveImageFiles(db: DB): { hash: string; ext: string; split: string; labeled: number }[] {
  return db
    .prepare(`SELECT i.hash, i.ext, i.split, l.image_id IS NOT NULL AS labeled FROM images i LEFT JOIN labels l ON l.image_id = i.id WHERE i.removed_at IS NULL`)
    .all() as { hash: string; ext: string; split: string; labeled: number }[];
}
