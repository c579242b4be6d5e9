// Undo and redo, kept in the database so they survive a restart. Every change to labels,
// splits, image presence or classes is recorded as two lists of data-level operations: what to
// write to redo it and what to write to undo it. Applying either list is one transaction.

import type { LabelSource, Split, UndoState } from '../../shared/types';
import type { DB } from '../store/database';

export interface ClassRow {
  id: number;
  name: string;
  color: string;
  position: number;
  created_at: number;
}

/** Parallel arrays keep large actions (60,000 labels) compact in the log. */
export type Op =
  | { t: 'labels'; imageIds: number[]; classIds: (number | null)[]; sources: (LabelSource | null)[] }
  | { t: 'splits'; imageIds: number[]; splits: Split[]; sources: ('auto' | 'folder' | 'user')[] }
  | { t: 'removed'; imageIds: number[]; removedAt: number | null }
  | { t: 'classes'; rows: ClassRow[] }
  | { t: 'deleteClasses'; ids: number[] }
  /** Review status of model suggestions / label issues (evaluation/review.ts), by image. */
  | { t: 'suggestionStatus'; imageIds: number[]; statuses: ReviewStatus[] }
  | { t: 'issueStatus'; imageIds: number[]; statuses: ReviewStatus[] };

export type ReviewStatus = 'pending' | 'accepted' | 'dismissed';

/** How many actions the log keeps; older ones can no longer be undone. */
export const HISTORY_LIMIT = 500;

export function applyOps(db: DB, ops: Op[], now = Date.now()): void {
  for (const op of ops) {
    switch (op.t) {
      case 'labels': {
        const del = db.prepare('DELETE FROM labels WHERE image_id = ?');
        const put = db.prepare(
          `INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (image_id) DO UPDATE SET class_id = excluded.class_id, source = excluded.source,
             updated_at = excluded.updated_at`,
        );
        op.imageIds.forEach((imageId, i) => {
          const classId = op.classIds[i];
          if (classId === null) del.run(imageId);
          else put.run(imageId, classId, op.sources[i] ?? 'user', now);
        });
        break;
      }
      case 'splits': {
        const set = db.prepare('UPDATE images SET split = ?, split_source = ? WHERE id = ?');
        op.imageIds.forEach((imageId, i) => set.run(op.splits[i], op.sources[i], imageId));
        break;
      }
      case 'removed':
        db.prepare('UPDATE images SET removed_at = ? WHERE id IN (SELECT value FROM json_each(?))').run(
          op.removedAt,
          JSON.stringify(op.imageIds),
        );
        break;
      case 'classes': {
        // Two passes, so swapping names (a rename undone) never trips the unique constraint.
        const park = db.prepare('UPDATE classes SET name = ? WHERE id = ?');
        for (const row of op.rows) park.run(`\u0000${row.id}`, row.id);
        const upsert = db.prepare(
          `INSERT INTO classes (id, name, color, position, created_at) VALUES (@id, @name, @color, @position, @created_at)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, color = excluded.color, position = excluded.position`,
        );
        for (const row of op.rows) upsert.run(row);
        break;
      }
      case 'deleteClasses':
        db.prepare('DELETE FROM classes WHERE id IN (SELECT value FROM json_each(?))').run(JSON.stringify(op.ids));
        break;
      case 'suggestionStatus':
      case 'issueStatus': {
        // A row replaced by a later job since is simply not there any more: nothing to restore.
        const table = op.t === 'suggestionStatus' ? 'suggestions' : 'label_issues';
        const set = db.prepare(`UPDATE ${table} SET status = ? WHERE image_id = ?`);
        op.imageIds.forEach((imageId, i) => set.run(op.statuses[i], imageId));
        break;
      }
    }
  }
}

/** Applies `redo` and records the action; a new action clears whatever could be redone. */
export function record(db: DB, kind: string, summary: string, redo: Op[], undo: Op[], now = Date.now()): void {
  applyOps(db, redo, now);
  db.prepare('DELETE FROM actions WHERE undone = 1').run();
  db.prepare('INSERT INTO actions (kind, summary, undo, redo, created_at) VALUES (?, ?, ?, ?, ?)').run(
    kind,
    summary,
    JSON.stringify(undo),
    JSON.stringify(redo),
    now,
  );
  db.prepare('DELETE FROM actions WHERE id <= (SELECT max(id) FROM actions) - ?').run(HISTORY_LIMIT);
}

interface ActionRow {
  id: number;
  summary: string;
  undo: string;
  redo: string;
}

function lastDone(db: DB): ActionRow | undefined {
  return db.prepare('SELECT id, summary, undo, redo FROM actions WHERE undone = 0 ORDER BY id DESC LIMIT 1').get() as
    | ActionRow
    | undefined;
}

function firstUndone(db: DB): ActionRow | undefined {
  return db.prepare('SELECT id, summary, undo, redo FROM actions WHERE undone = 1 ORDER BY id ASC LIMIT 1').get() as
    | ActionRow
    | undefined;
}

/** The image ids an action touches (null when it may be any, e.g. a class deletion). */
export function touchedImages(ops: Op[]): number[] | null {
  const ids = new Set<number>();
  for (const op of ops) {
    if ('imageIds' in op) op.imageIds.forEach((id) => ids.add(id));
  }
  return [...ids];
}

/** What one undo or redo applied, and the summary of the action it undid or redid. */
export interface Step {
  ops: Op[];
  summary: string;
}

/** Undoes the latest action, or redoes the first undone one; null when there is none. */
export function step(db: DB, direction: 'undo' | 'redo'): Step | null {
  return db.transaction(() => {
    const action = direction === 'undo' ? lastDone(db) : firstUndone(db);
    if (!action) return null;
    const ops = JSON.parse(direction === 'undo' ? action.undo : action.redo) as Op[];
    applyOps(db, ops);
    db.prepare('UPDATE actions SET undone = ? WHERE id = ?').run(direction === 'undo' ? 1 : 0, action.id);
    return { ops, summary: action.summary };
  })();
}

/** Undoes the latest action; returns the ops applied, or null when there is nothing to undo. */
export function undo(db: DB): Op[] | null {
  return step(db, 'undo')?.ops ?? null;
}

export function redo(db: DB): Op[] | null {
  return step(db, 'redo')?.ops ?? null;
}

export function undoState(db: DB): UndoState {
  return { undo: lastDone(db)?.summary ?? null, redo: firstUndone(db)?.summary ?? null };
}
