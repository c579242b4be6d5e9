// Undo and redo, kept in the database so they survive a restart. Every change to labels,
// splits, image presence or classes is recorded as two lists of data-level operations: what to
// write to redo it and what to write to undo it. Applying either list is one transaction.

import type { LabelSource, Split, UndoState } from '../../shared/types';
import type { DB } from '../store/database';
import {
  appendAction,
  deleteClassRows,
  firstUndoneAction,
  lastDoneAction,
  setActionUndone,
  setRemovedAt,
  writeClassRows,
  writeDoctorDismissals,
  writeLabels,
  writeReviewStatuses,
  writeSplits,
  type ClassRow,
} from './records';

export type { ClassRow };

/** Parallel arrays keep large actions (60,000 labels) compact in the log. */
export type Op =
  | { t: 'labels'; imageIds: number[]; classIds: (number | null)[]; sources: (LabelSource | null)[] }
  | { t: 'splits'; imageIds: number[]; splits: Split[]; sources: ('auto' | 'folder' | 'user')[] }
  | { t: 'removed'; imageIds: number[]; removedAt: number | null }
  | { t: 'classes'; rows: ClassRow[] }
  | { t: 'deleteClasses'; ids: number[] }
  /** Review status of model suggestions / label issues (evaluation/review.ts), by image. */
  | { t: 'suggestionStatus'; imageIds: number[]; statuses: ReviewStatus[] }
  | { t: 'issueStatus'; imageIds: number[]; statuses: ReviewStatus[] }
  /** Data doctor findings dismissed (or shown again), by key; imageIds: the findings' images, for the views that show them. */
  | { t: 'doctorDismissals'; imageIds: number[]; keys: string[]; checks: string[]; dismissed: boolean };

export type ReviewStatus = 'pending' | 'accepted' | 'dismissed';

/** How many actions the log keeps; older ones can no longer be undone. */
export const HISTORY_LIMIT = 500;

export function applyOps(db: DB, ops: Op[], now = Date.now()): void {
  for (const op of ops) {
    switch (op.t) {
      case 'labels':
        writeLabels(db, op.imageIds, op.classIds, op.sources, now);
        break;
      case 'splits':
        writeSplits(db, op.imageIds, op.splits, op.sources);
        break;
      case 'removed':
        setRemovedAt(db, op.imageIds, op.removedAt);
        break;
      case 'classes':
        writeClassRows(db, op.rows);
        break;
      case 'deleteClasses':
        deleteClassRows(db, op.ids);
        break;
      case 'suggestionStatus':
      case 'issueStatus':
        // A row replaced by a later job since is simply not there any more: nothing to restore.
        writeReviewStatuses(db, op.t === 'suggestionStatus' ? 'suggestions' : 'label_issues', op.imageIds, op.statuses);
        break;
      case 'doctorDismissals':
        writeDoctorDismissals(db, op.keys, op.checks, op.dismissed, now);
        break;
    }
  }
}

/** Applies `redo` and records the action; a new action clears whatever could be redone. */
export function record(db: DB, kind: string, summary: string, redo: Op[], undo: Op[], now = Date.now()): void {
  applyOps(db, redo, now);
  appendAction(db, kind, summary, JSON.stringify(undo), JSON.stringify(redo), now, HISTORY_LIMIT);
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
    const action = direction === 'undo' ? lastDoneAction(db) : firstUndoneAction(db);
    if (!action) return null;
    const ops = JSON.parse(direction === 'undo' ? action.undo : action.redo) as Op[];
    applyOps(db, ops);
    setActionUndone(db, action.id, direction === 'undo');
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
  return { undo: lastDoneAction(db)?.summary ?? null, redo: firstUndoneAction(db)?.summary ?? null };
}
