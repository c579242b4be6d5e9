// The project's own records: images, labels, classes, the undo log, and the meta values the
// root services keep (split seed and ratios). Of the root service files only this one writes
// SQL on the project database: labeling.ts, history.ts, summary.ts, classes.ts and splits.ts call
// its functions, and the transactions stay with them (each is a service's unit of work).
// (app-state.ts is the records module of Loupe's own small database, not a project's.)
//
// A gallery first fetches the ordered ids its filter matches (one index scan, a few ms for
// 60,000 images), then pages by id: a page is a primary-key lookup of the ~200 visible images,
// well under a millisecond, whatever the scroll position. Id lists travel as one JSON
// parameter (json_each), so 60,000 ids are as cheap to pass as ten.

import { MODEL_LABEL_SOURCES } from '../../shared/types';
import type { ClassCount, ImageDetails, ImageFilter, ImageItem, LabelSource, ReviewStatus, Split } from '../../shared/types';
import type { DB } from '../store/database';

// ---------------------------------------------------------------------------------------------
// Images and labels

const ITEM_COLUMNS = `i.id, i.hash, i.original_name AS name, i.split, i.width, i.height,
  l.class_id AS classId, l.source AS labelSource`;

interface Where {
  from: string;
  where: string;
  params: unknown[];
  /** Gallery order (import order), expressed on the index the query walks. */
  order: string;
}

/**
 * The FROM/WHERE of a filter. With a class the query walks the labels index (class_id,
 * image_id); otherwise the live-images index (id) or, with a split, (split, id).
 */
export function filterSql(filter: ImageFilter): Where {
  const params: unknown[] = [];
  const conds = ['i.removed_at IS NULL'];
  let from: string;
  if (filter.classId !== undefined) {
    from = 'labels l INDEXED BY labels_class JOIN images i ON i.id = l.image_id';
    conds.push('l.class_id = ?');
    params.push(filter.classId);
  } else {
    from = `images i INDEXED BY ${filter.split ? 'images_live_split' : 'images_live'} LEFT JOIN labels l ON l.image_id = i.id`;
  }
  if (filter.split) {
    conds.push('i.split = ?');
    params.push(filter.split);
  }
  if (filter.unlabeled) conds.push('l.image_id IS NULL');
  if (filter.modelLabeled) conds.push(`l.source IN (${MODEL_LABEL_SOURCES.map((x) => `'${x}'`).join(', ')})`);
  if (filter.search) {
    conds.push("i.original_name LIKE ? ESCAPE '\\'");
    params.push(`%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  }
  const order = filter.classId !== undefined ? 'ORDER BY l.image_id' : 'ORDER BY i.id';
  return { from, where: conds.join(' AND '), params, order };
}

/** The order of lists not tied to a filter: import order. */
const ORDER = 'ORDER BY i.id';

/** The ids a filter matches, in gallery order. */
export function filteredImageIds(db: DB, filter: ImageFilter): number[] {
  const { from, where, params, order } = filterSql(filter);
  return db
    .prepare(`SELECT i.id FROM ${from} WHERE ${where} ${order}`)
    .pluck()
    .all(...params) as number[];
}

/** The first unlabeled image the filter matches after `afterId`, in gallery order. */
export function firstUnlabeledAfter(db: DB, filter: ImageFilter, afterId: number): number | undefined {
  const { from, where, params, order } = filterSql(filter);
  return db
    .prepare(`SELECT i.id FROM ${from} WHERE ${where} AND l.image_id IS NULL AND i.id > ? ${order} LIMIT 1`)
    .pluck()
    .get(...params, afterId) as number | undefined;
}

/** The live images of these ids, in import order. */
export function imageItems(db: DB, ids: number[]): ImageItem[] {
  return db
    .prepare(
      `SELECT ${ITEM_COLUMNS} FROM images i LEFT JOIN labels l ON l.image_id = i.id
       WHERE i.id IN (SELECT value FROM json_each(?)) AND i.removed_at IS NULL ${ORDER}`,
    )
    .all(JSON.stringify(ids)) as ImageItem[];
}

export function imageDetailsRow(db: DB, id: number): ImageDetails | undefined {
  return db
    .prepare(
      `SELECT ${ITEM_COLUMNS}, i.format, i.bytes, i.channels, i.source_path AS sourcePath,
              i.added_at AS addedAt, i.split_source AS splitSource
         FROM images i LEFT JOIN labels l ON l.image_id = i.id WHERE i.id = ? AND i.removed_at IS NULL`,
    )
    .get(id) as ImageDetails | undefined;
}

/** An image's file name and where it was imported from, removed or not. */
export function imageSource(db: DB, id: number): { name: string; path: string | null } {
  return db.prepare('SELECT original_name AS name, source_path AS path FROM images WHERE id = ?').get(id) as { name: string; path: string | null };
}

export interface LabelRow {
  id: number;
  classId: number | null;
  source: LabelSource | null;
}

/** The live images of these ids with their label (null: unlabeled), in import order. */
export function liveLabels(db: DB, ids: number[]): LabelRow[] {
  return db
    .prepare(
      `SELECT i.id, l.class_id AS classId, l.source FROM images i LEFT JOIN labels l ON l.image_id = i.id
        WHERE i.id IN (SELECT value FROM json_each(?)) AND i.removed_at IS NULL ORDER BY i.id`,
    )
    .all(JSON.stringify(ids)) as LabelRow[];
}

/** The labels of these classes, by image. */
export function labelsOfClasses(db: DB, classIds: number[]): LabelRow[] {
  return db
    .prepare(
      `SELECT image_id AS id, class_id AS classId, source FROM labels
        WHERE class_id IN (SELECT value FROM json_each(?)) ORDER BY image_id`,
    )
    .all(JSON.stringify(classIds)) as LabelRow[];
}

/** The live images of these ids that are not in `split`, with their split and where it came from. */
export function imagesOutsideSplit(db: DB, ids: number[], split: Split): { id: number; split: Split; source: 'auto' | 'folder' | 'user' }[] {
  return db
    .prepare(
      `SELECT id, split, split_source AS source FROM images
        WHERE id IN (SELECT value FROM json_each(?)) AND removed_at IS NULL AND split <> ? ORDER BY id`,
    )
    .all(JSON.stringify(ids), split) as { id: number; split: Split; source: 'auto' | 'folder' | 'user' }[];
}

/** Per class (null: unlabeled), how many live, automatically split images each split holds. */
export function autoSplitRows(db: DB): { classId: number | null; split: Split; n: number }[] {
  return db
    .prepare(
      `SELECT l.class_id AS classId, i.split AS split, count(*) AS n
         FROM images i LEFT JOIN labels l ON l.image_id = i.id
        WHERE i.removed_at IS NULL AND i.split_source = 'auto'
        GROUP BY l.class_id, i.split`,
    )
    .all() as { classId: number | null; split: Split; n: number }[];
}

// ---------------------------------------------------------------------------------------------
// Classes

export interface ClassRow {
  id: number;
  name: string;
  color: string;
  position: number;
  created_at: number;
}

export function classRowById(db: DB, id: number): ClassRow | undefined {
  return db.prepare('SELECT id, name, color, position, created_at FROM classes WHERE id = ?').get(id) as ClassRow | undefined;
}

export function allClassRows(db: DB): ClassRow[] {
  return db.prepare('SELECT id, name, color, position, created_at FROM classes ORDER BY position, id').all() as ClassRow[];
}

export function classIdByName(db: DB, name: string): number | undefined {
  const taken = db.prepare('SELECT id FROM classes WHERE name = ?').get(name) as { id: number } | undefined;
  return taken?.id;
}

export function classNameById(db: DB, id: number): string {
  return db.prepare('SELECT name FROM classes WHERE id = ?').pluck().get(id) as string;
}

/** The id and position after the last class's. */
export function nextClassSlot(db: DB): { id: number; position: number } {
  const id = ((db.prepare('SELECT max(id) FROM classes').pluck().get() as number | null) ?? 0) + 1;
  const position = ((db.prepare('SELECT max(position) FROM classes').pluck().get() as number | null) ?? -1) + 1;
  return { id, position };
}

export function classTotal(db: DB): number {
  const { n } = db.prepare('SELECT count(*) AS n FROM classes').get() as { n: number };
  return n;
}

/** Finds a class by name and adds one at the end of the order, prepared once for many names. */
export function classFinder(db: DB): { find: (name: string) => number | undefined; add: (name: string, color: string, now: number) => number } {
  const find = db.prepare('SELECT id FROM classes WHERE name = ?');
  const insert = db.prepare(
    `INSERT INTO classes (name, color, position, created_at)
     VALUES (?, ?, (SELECT coalesce(max(position), -1) + 1 FROM classes), ?)`,
  );
  return {
    find: (name) => (find.get(name) as { id: number } | undefined)?.id,
    add: (name, color, now) => Number(insert.run(name, color, now).lastInsertRowid),
  };
}

// ---------------------------------------------------------------------------------------------
// Data-level writes the undo log replays (history.ts)

/** Sets each image's label (a null class removes it). */
export function writeLabels(db: DB, imageIds: number[], classIds: (number | null)[], sources: (LabelSource | null)[], now: number): void {
  const del = db.prepare('DELETE FROM labels WHERE image_id = ?');
  const put = db.prepare(
    `INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (image_id) DO UPDATE SET class_id = excluded.class_id, source = excluded.source,
       updated_at = excluded.updated_at`,
  );
  imageIds.forEach((imageId, i) => {
    const classId = classIds[i];
    if (classId === null) del.run(imageId);
    else put.run(imageId, classId, sources[i] ?? 'user', now);
  });
}

export function writeSplits(db: DB, imageIds: number[], splits: Split[], sources: ('auto' | 'folder' | 'user')[]): void {
  const set = db.prepare('UPDATE images SET split = ?, split_source = ? WHERE id = ?');
  imageIds.forEach((imageId, i) => set.run(splits[i], sources[i], imageId));
}

export function setRemovedAt(db: DB, imageIds: number[], removedAt: number | null): void {
  db.prepare('UPDATE images SET removed_at = ? WHERE id IN (SELECT value FROM json_each(?))').run(removedAt, JSON.stringify(imageIds));
}

/** Writes class rows whole (inserting missing ones). */
export function writeClassRows(db: DB, rows: ClassRow[]): void {
  // Two passes, so swapping names (a rename undone) never trips the unique constraint.
  const park = db.prepare('UPDATE classes SET name = ? WHERE id = ?');
  for (const row of rows) park.run(`\u0000${row.id}`, row.id);
  const upsert = db.prepare(
    `INSERT INTO classes (id, name, color, position, created_at) VALUES (@id, @name, @color, @position, @created_at)
     ON CONFLICT (id) DO UPDATE SET name = excluded.name, color = excluded.color, position = excluded.position`,
  );
  for (const row of rows) upsert.run(row);
}

export function deleteClassRows(db: DB, ids: number[]): void {
  db.prepare('DELETE FROM classes WHERE id IN (SELECT value FROM json_each(?))').run(JSON.stringify(ids));
}

/** Sets the review status of model suggestions or label issues, by image. */
export function writeReviewStatuses(db: DB, table: 'suggestions' | 'label_issues', imageIds: number[], statuses: ReviewStatus[]): void {
  const set = db.prepare(`UPDATE ${table} SET status = ? WHERE image_id = ?`);
  imageIds.forEach((imageId, i) => set.run(statuses[i], imageId));
}

/** The data doctor's dismissed findings (by key): hidden while their images stay the same. */
export function writeDoctorDismissals(db: DB, keys: string[], checks: string[], dismissed: boolean, now: number): void {
  const insert = db.prepare('INSERT OR IGNORE INTO doctor_dismissals (key, check_name, dismissed_at) VALUES (?, ?, ?)');
  const remove = db.prepare('DELETE FROM doctor_dismissals WHERE key = ?');
  keys.forEach((key, i) => (dismissed ? insert.run(key, checks[i], now) : remove.run(key)));
}

// ---------------------------------------------------------------------------------------------
// The undo log

export interface ActionRow {
  id: number;
  summary: string;
  undo: string;
  redo: string;
}

/** Appends an action, clearing whatever could be redone, and keeps the latest `limit`. */
export function appendAction(db: DB, kind: string, summary: string, undo: string, redo: string, now: number, limit: number): void {
  db.prepare('DELETE FROM actions WHERE undone = 1').run();
  db.prepare('INSERT INTO actions (kind, summary, undo, redo, created_at) VALUES (?, ?, ?, ?, ?)').run(kind, summary, undo, redo, now);
  db.prepare('DELETE FROM actions WHERE id <= (SELECT max(id) FROM actions) - ?').run(limit);
}

export function lastDoneAction(db: DB): ActionRow | undefined {
  return db.prepare('SELECT id, summary, undo, redo FROM actions WHERE undone = 0 ORDER BY id DESC LIMIT 1').get() as ActionRow | undefined;
}

export function firstUndoneAction(db: DB): ActionRow | undefined {
  return db.prepare('SELECT id, summary, undo, redo FROM actions WHERE undone = 1 ORDER BY id ASC LIMIT 1').get() as ActionRow | undefined;
}

export function setActionUndone(db: DB, id: number, undone: boolean): void {
  db.prepare('UPDATE actions SET undone = ? WHERE id = ?').run(undone ? 1 : 0, id);
}

// ---------------------------------------------------------------------------------------------
// Counts for the summary

/** Whether any image was taken out of the project. */
export function anyRemovedImage(db: DB): boolean {
  return db.prepare('SELECT 1 FROM images INDEXED BY images_removed WHERE removed_at IS NOT NULL LIMIT 1').get() !== undefined;
}

/** Live labels per class; `anyRemoved` false takes the cheaper count that needs no join. */
export function labelCounts(db: DB, anyRemoved: boolean): Map<number, number> {
  return new Map(
    (anyRemoved
      ? db.prepare(
          `SELECT l.class_id AS id, count(*) AS n FROM labels l JOIN images i ON i.id = l.image_id
            WHERE i.removed_at IS NULL GROUP BY l.class_id`,
        )
      : db.prepare('SELECT class_id AS id, count(*) AS n FROM labels GROUP BY class_id')
    )
      .all()
      .map((r) => [(r as { id: number }).id, (r as { n: number }).n]),
  );
}

export function classesForSummary(db: DB): Omit<ClassCount, 'count'>[] {
  return db.prepare('SELECT id, name, color, position FROM classes ORDER BY position, id').all() as Omit<ClassCount, 'count'>[];
}

/** SQLite's count of rows this connection has changed: any write moves it. */
export function totalChanges(db: DB): number {
  return db.prepare('SELECT total_changes()').pluck().get() as number;
}

export function liveSplitCounts(db: DB): { split: Split; n: number }[] {
  return db
    .prepare('SELECT split, count(*) AS n FROM images INDEXED BY images_live_split WHERE removed_at IS NULL GROUP BY split')
    .all() as { split: Split; n: number }[];
}

// ---------------------------------------------------------------------------------------------
// Meta values of the splits

export function splitSeedValue(db: DB): string | undefined {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'split_seed'").get() as { value: string } | undefined;
  return row?.value;
}

/** Keeps `seed` unless the project already has one. */
export function addSplitSeed(db: DB, seed: string): void {
  db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('split_seed', ?)").run(seed);
}

export function writeSplitSeed(db: DB, seed: string): void {
  db.prepare("INSERT INTO meta (key, value) VALUES ('split_seed', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(seed);
}

export function splitRatiosValue(db: DB): string | undefined {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'split_ratios'").get() as { value: string } | undefined;
  return row?.value;
}
