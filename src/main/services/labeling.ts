// The gallery's queries and the labeling actions. Every action is one transaction that also
// records how to undo it (history.ts). The statements are in records.ts.

import { LoupeError } from '../../shared/errors';
import type {
  ImageDetails,
  ImageFilter,
  ImageItem,
  LabelSource,
  Split,
} from '../../shared/types';
import type { DB } from '../store/database';
import { nextColor, normalizeClassName } from './classes';
import { record, type Op } from './history';
import {
  allClassRows,
  classIdByName,
  classRowById,
  filteredImageIds,
  firstUnlabeledAfter,
  imageDetailsRow,
  imageItems,
  imagesOutsideSplit,
  labelsOfClasses,
  liveLabels,
  nextClassSlot,
  type ClassRow,
  type LabelRow,
} from './records';

export function imageIds(db: DB, filter: ImageFilter): number[] {
  return filteredImageIds(db, filter);
}

/** The first unlabeled image after `afterId` in gallery order, if any. */
export function nextUnlabeled(db: DB, filter: ImageFilter, afterId: number): number | null {
  if (filter.classId !== undefined) return null; // every image of a class view is labeled
  const id = firstUnlabeledAfter(db, filter, afterId);
  return id ?? null;
}

export function imagesById(db: DB, ids: number[]): ImageItem[] {
  return imageItems(db, ids);
}

export function imageDetails(db: DB, id: number): ImageDetails {
  const row = imageDetailsRow(db, id);
  if (!row) throw new LoupeError('NOT_FOUND', 'No such image in this project.');
  return row;
}

// ---------------------------------------------------------------------------------------------
// Actions

function classRow(db: DB, id: number): ClassRow {
  const row = classRowById(db, id);
  if (!row) throw new LoupeError('NOT_FOUND', 'No such class.');
  return row;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Ops that give `rows` the label `classId` (null removes it), and the ops that restore them. */
function relabelOps(rows: LabelRow[], classId: number | null, source: LabelSource) {
  const imageIds = rows.map((r) => r.id);
  const redo: Op = {
    t: 'labels',
    imageIds,
    classIds: rows.map(() => classId),
    sources: rows.map(() => (classId === null ? null : source)),
  };
  const undo: Op = { t: 'labels', imageIds, classIds: rows.map((r) => r.classId), sources: rows.map((r) => r.source) };
  return { redo, undo };
}

export interface LabelChange {
  id: number;
  /** The class before the change (null: it was unlabeled). */
  classId: number | null;
}

/** Labels images (null removes their label). Returns the images that changed, with their old class. */
export function setLabel(db: DB, ids: number[], classId: number | null, source: LabelSource = 'user'): LabelChange[] {
  return db.transaction(() => {
    const cls = classId === null ? null : classRow(db, classId);
    const rows = liveLabels(db, ids).filter((r) => r.classId !== classId || (classId !== null && r.source !== source));
    if (rows.length === 0) return [];
    const { redo, undo } = relabelOps(rows, classId, source);
    const summary = cls ? `Label ${plural(rows.length, 'image')} as “${cls.name}”` : `Remove the label of ${plural(rows.length, 'image')}`;
    record(db, 'label', summary, [redo], [undo]);
    return rows.map((r) => ({ id: r.id, classId: r.classId }));
  })();
}

export function moveToSplit(db: DB, ids: number[], split: Split): number[] {
  return db.transaction(() => {
    const rows = imagesOutsideSplit(db, ids, split);
    if (rows.length === 0) return [];
    const imageIds = rows.map((r) => r.id);
    record(
      db,
      'split',
      `Move ${plural(rows.length, 'image')} to ${split === 'val' ? 'validation' : split}`,
      [{ t: 'splits', imageIds, splits: rows.map(() => split), sources: rows.map(() => 'user') }],
      [{ t: 'splits', imageIds, splits: rows.map((r) => r.split), sources: rows.map((r) => r.source) }],
    );
    return imageIds;
  })();
}

/** Takes images out of the project (undoable: their files and labels stay). */
export function removeImages(db: DB, ids: number[], now = Date.now()): number[] {
  return db.transaction(() => {
    const imageIds = liveLabels(db, ids).map((r) => r.id);
    if (imageIds.length === 0) return [];
    record(
      db,
      'remove',
      `Remove ${plural(imageIds.length, 'image')} from the project`,
      [{ t: 'removed', imageIds, removedAt: now }],
      [{ t: 'removed', imageIds, removedAt: null }],
      now,
    );
    return imageIds;
  })();
}

function assertFreeName(db: DB, name: string, exceptId?: number): string {
  const clean = normalizeClassName(name);
  if (!clean) throw new LoupeError('INVALID_INPUT', 'A class needs a name.');
  // A name is one line of text: no line breaks, tabs or terminal escape sequences.
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(clean)) {
    throw new LoupeError('INVALID_INPUT', 'A class name cannot contain line breaks, tabs or other control characters.');
  }
  const taken = classIdByName(db, clean);
  if (taken !== undefined && taken !== exceptId) throw new LoupeError('ALREADY_EXISTS', `There is already a class named “${clean}”.`);
  return clean;
}

export function createClass(db: DB, name: string, color?: string, now = Date.now()): number {
  return db.transaction(() => {
    const clean = assertFreeName(db, name);
    const { id, position } = nextClassSlot(db);
    const row: ClassRow = { id, name: clean, color: color ?? nextColor(db), position, created_at: now };
    record(db, 'class', `Add class “${clean}”`, [{ t: 'classes', rows: [row] }], [{ t: 'deleteClasses', ids: [id] }], now);
    return id;
  })();
}

export function updateClass(db: DB, id: number, changes: { name?: string; color?: string }): void {
  db.transaction(() => {
    const before = classRow(db, id);
    const after = { ...before };
    if (changes.name !== undefined) after.name = assertFreeName(db, changes.name, id);
    if (changes.color !== undefined) after.color = changes.color.toLowerCase();
    if (after.name === before.name && after.color === before.color) return;
    const summary =
      after.name !== before.name ? `Rename class “${before.name}” to “${after.name}”` : `Recolor class “${before.name}”`;
    record(db, 'class', summary, [{ t: 'classes', rows: [after] }], [{ t: 'classes', rows: [before] }]);
  })();
}

export function reorderClasses(db: DB, order: number[]): void {
  db.transaction(() => {
    const before = allClassRows(db);
    const known = new Set(before.map((c) => c.id));
    if (order.length !== before.length || new Set(order).size !== order.length || !order.every((id) => known.has(id))) {
      throw new LoupeError('INVALID_INPUT', 'The new order must list every class exactly once.');
    }
    const byId = new Map(before.map((c) => [c.id, c]));
    const after = order.map((id, position) => ({ ...byId.get(id)!, position }));
    record(db, 'class', 'Reorder classes', [{ t: 'classes', rows: after }], [{ t: 'classes', rows: before }]);
  })();
}

/** Moves every label of the sources to the target and deletes the sources. Returns the images relabeled. */
export function mergeClasses(db: DB, sourceIds: number[], targetId: number): number[] {
  return db.transaction(() => {
    const target = classRow(db, targetId);
    const sources = [...new Set(sourceIds)].filter((id) => id !== targetId).map((id) => classRow(db, id));
    if (sources.length === 0) throw new LoupeError('INVALID_INPUT', 'Choose at least one other class to merge.');
    const rows = labelsOfClasses(db, sources.map((c) => c.id));
    const imageIds = rows.map((r) => r.id);
    const redo: Op[] = [
      { t: 'labels', imageIds, classIds: rows.map(() => targetId), sources: rows.map((r) => r.source) },
      { t: 'deleteClasses', ids: sources.map((c) => c.id) },
    ];
    const undo: Op[] = [
      { t: 'classes', rows: sources },
      { t: 'labels', imageIds, classIds: rows.map((r) => r.classId), sources: rows.map((r) => r.source) },
    ];
    const names = sources.map((c) => `“${c.name}”`).join(', ');
    record(db, 'class', `Merge ${names} into “${target.name}” (${plural(rows.length, 'image')})`, redo, undo);
    return imageIds;
  })();
}

/** Deletes a class; its images become unlabeled. Returns those images. */
export function deleteClass(db: DB, id: number): number[] {
  return db.transaction(() => {
    const cls = classRow(db, id);
    const rows = labelsOfClasses(db, [id]);
    const { redo, undo } = relabelOps(rows, null, 'user');
    record(
      db,
      'class',
      `Delete class “${cls.name}” (${plural(rows.length, 'image')} unlabeled)`,
      [redo, { t: 'deleteClasses', ids: [id] }],
      [{ t: 'classes', rows: [cls] }, undo],
    );
    return rows.map((r) => r.id);
  })();
}
