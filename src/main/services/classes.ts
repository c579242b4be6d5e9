// Classes: names, colours and order. Import creates them from folder names and CSV labels;
// the labeling view edits them.

import type { DB } from '../store/database';
import { classFinder, classTotal } from './records';

/** Distinct, readable colours on the dark theme; cycled when there are more classes. */
export const PALETTE = [
  '#6ea8fe', '#f08c4c', '#5cc98a', '#f06c9b', '#b48cf2', '#f0c84c', '#4cc9d9', '#e05d5d',
  '#9ad04c', '#d98ce0', '#7f8cf2', '#c9a36e', '#4cd9a8', '#f2a0a0', '#a0b4c8', '#e8e05a',
];

export function nextColor(db: DB): string {
  return PALETTE[classTotal(db) % PALETTE.length];
}

/** Class names are shown as text everywhere; here they are only trimmed and bounded. */
export function normalizeClassName(name: string): string {
  return name.normalize('NFC').trim().slice(0, 200);
}

/**
 * Returns the id of each named class, keyed by the name as given (and as normalised), creating
 * the missing ones at the end of the order with the next palette colours. Call inside the
 * transaction that uses the ids.
 */
export function ensureClasses(db: DB, names: Iterable<string>, now = Date.now()): Map<string, number> {
  const ids = new Map<string, number>();
  const { find, add } = classFinder(db);
  for (const raw of names) {
    const name = normalizeClassName(raw);
    if (!name) continue;
    let id = ids.get(name);
    if (id === undefined) {
      id = find(name) ?? add(name, nextColor(db), now);
      ids.set(name, id);
    }
    ids.set(raw, id);
  }
  return ids;
}
