// Turning worker results into rows. Called on the main thread (which owns the connection) inside
// a transaction, only after the files of the batch are durable. Each source file's outcome is
// written with the image row it produced, so what is committed is exactly what is done.

import type { Split } from '../../../shared/types';
import type { DB } from '../../store/database';
import { ensureClasses, normalizeClassName } from '../classes';
import { assignSplits, autoSplitCounts, splitRatios, splitSeed, stratumOf, type SplitCandidate, type SplitCounts } from '../splits';
import { MEDIA_EXT } from '../pixels/formats';
import type { FileResult } from './protocol';
import { classNames, commitStatements } from './records';
import type { ScanItem, ScanSkip } from './scan';

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' });
const naturalOrder = (a: string, b: string) => collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);

export interface Tally {
  imported: number;
  duplicates: number;
  skipped: number;
}

interface NewImage {
  item: ScanItem;
  result: Extract<FileResult, { duplicate: false }>;
  label: string | null;
  id?: number;
}

export class Committer {
  readonly tally: Tally = { imported: 0, duplicates: 0, skipped: 0 };
  readonly createdClasses: string[] = [];
  readonly #db: DB;
  readonly #importId: number;
  readonly #seed: string;
  readonly #ratios;
  readonly #counts: Map<string, SplitCounts>;
  readonly #classNames: Set<string>;
  /** Hashes this run inserted: with the workers' view of the project at the start, all there is. */
  readonly #added = new Set<string>();
  readonly #stmt;

  constructor(db: DB, importId: number) {
    this.#db = db;
    this.#importId = importId;
    this.#seed = splitSeed(db);
    this.#ratios = splitRatios(db);
    this.#counts = autoSplitCounts(db);
    this.#classNames = new Set(classNames(db));
    this.#stmt = commitStatements(db);
  }

  /** Skips found while scanning (odd names, broken links, refused CSV rows). */
  skips(skips: readonly ScanSkip[]): void {
    for (const s of skips) this.#item(s.key, 'skipped', null, s.reason);
  }

  /** One batch of results, in scan order. The caller holds the transaction. */
  batch(entries: readonly { item: ScanItem; result: FileResult }[], now = Date.now()): void {
    const fresh: NewImage[] = [];
    const firstByHash = new Map<string, NewImage>();
    const later: { item: ScanItem; hash: string }[] = [];
    for (const { item, result } of entries) {
      if (!result.ok) {
        this.#item(item.key, 'skipped', null, result.reason);
        continue;
      }
      // Workers flag what the project held when the run started; only this run's own images
      // need a look-up.
      const existing = result.duplicate || this.#added.has(result.hash) ? (this.#stmt.find.get(result.hash) as number | undefined) : undefined;
      if (existing !== undefined) this.#item(item.key, 'duplicate', existing, null);
      else if (result.duplicate || firstByHash.has(result.hash)) later.push({ item, hash: result.hash });
      else {
        const image: NewImage = { item, result, label: item.label === null ? null : normalizeClassName(item.label) || null };
        firstByHash.set(result.hash, image);
        fresh.push(image);
      }
    }

    // New classes are created in natural order ("2" before "10"), whatever order images came in.
    const labels = [...new Set(fresh.map((f) => f.label).filter((l): l is string => l !== null))].sort(naturalOrder);
    for (const name of labels) if (!this.#classNames.has(name)) this.createdClasses.push(name);
    const classIds = ensureClasses(this.#db, labels, now);
    for (const name of labels) this.#classNames.add(name);

    const candidates: SplitCandidate[] = fresh
      .filter((f) => f.item.split === null)
      .map((f) => ({ hash: f.result.hash, stratum: stratumOf(f.label === null ? null : classIds.get(f.label)!) }));
    const auto = assignSplits(candidates, this.#counts, this.#seed, this.#ratios);

    for (const f of fresh) {
      const r = f.result;
      const split: Split = f.item.split ?? auto.get(r.hash)!;
      const info = this.#stmt.image.run(
        r.hash, MEDIA_EXT[r.format], r.format, r.width, r.height, r.channels, r.bytes,
        f.item.name, f.item.key, split, f.item.split ? 'folder' : 'auto', now,
      );
      f.id = Number(info.lastInsertRowid);
      this.#added.add(r.hash);
      if (f.label !== null) this.#stmt.label.run(f.id, classIds.get(f.label)!, now);
      this.#item(f.item.key, 'imported', f.id, null);
    }
    for (const d of later) {
      const id = firstByHash.get(d.hash)?.id ?? (this.#stmt.find.get(d.hash) as number | undefined) ?? null;
      this.#item(d.item.key, 'duplicate', id, null);
    }
    this.#stmt.touch.run(now, JSON.stringify(this.createdClasses), this.#importId);
  }

  /** Class names created by earlier runs of this import (a resumed import reports them all). */
  restoreCreated(names: readonly string[]): void {
    this.createdClasses.push(...names);
  }

  #item(key: string, outcome: 'imported' | 'duplicate' | 'skipped', imageId: number | null, reason: string | null): void {
    const changed = this.#stmt.item.run(this.#importId, key, outcome, imageId, reason).changes;
    if (changed === 0) return;
    if (outcome === 'imported') this.tally.imported++;
    else if (outcome === 'duplicate') this.tally.duplicates++;
    else this.tally.skipped++;
  }
}
