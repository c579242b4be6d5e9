// The SQL "more like this" reads: the live images with their content hashes.

import type { DB } from '../../store/database';

/** Every live image's id and content hash, in import order. */
export function liveHashes(db: DB): { id: number; hash: string }[] {
  return db.prepare('SELECT id, hash FROM images WHERE removed_at IS NULL ORDER BY id').all() as { id: number; hash: string }[];
}

/** A live image's content hash, or undefined. */
export function liveHashOf(db: DB, id: number): string | undefined {
  return (db.prepare('SELECT hash FROM images WHERE id = ? AND removed_at IS NULL').get(id) as { hash: string } | undefined)?.hash;
}
