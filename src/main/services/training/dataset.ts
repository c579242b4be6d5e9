// The data a run trains on: every labeled, live image whose class has training images, with
// its split. Read in one query, so the snapshot stored with the run is exactly what it saw.

import type { Split, TrainDataStats } from '../../../shared/types';
import type { DB } from '../../store/database';
import { permutation, seededRandom, subSeed } from '../rng';
import { classesInOrder, labeledImageRows, type RunClass, type SnapshotRow } from './records';

/** Share of the training images held out for validation when a project has no val split. */
export const HOLDOUT_SHARE = 0.1;

export interface TrainItem {
  imageId: number;
  hash: string;
  ext: string;
  /** Index into `TrainingData.classes`. */
  label: number;
  split: Split;
}

export interface TrainingData {
  /** In the project's class order; only classes with at least one training image. */
  classes: RunClass[];
  items: TrainItem[];
  stats: TrainDataStats;
}

interface Row {
  imageId: number;
  hash: string;
  ext: string;
  classId: number;
  split: Split;
  width: number;
  height: number;
  channels: number;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export function trainingData(db: DB): TrainingData {
  const rows = labeledImageRows<Row>(db);
  const allClasses = classesInOrder(db);
  const perClass = new Map(allClasses.map((c) => [c.id, { ...c, train: 0, val: 0, test: 0 }]));
  for (const r of rows) perClass.get(r.classId)![r.split] += 1;
  const classes = allClasses.filter((c) => perClass.get(c.id)!.train > 0);
  const index = new Map(classes.map((c, i) => [c.id, i]));
  const kept = rows.filter((r) => index.has(r.classId));
  const items = kept.map((r) => ({ imageId: r.imageId, hash: r.hash, ext: r.ext, label: index.get(r.classId)!, split: r.split }));
  const count = (split: Split) => kept.reduce((n, r) => n + (r.split === split ? 1 : 0), 0);
  // Size statistics from a sample: enough to pick an input size, cheap on 100,000 images.
  const step = Math.max(1, Math.floor(kept.length / 5000));
  const sample = kept.filter((_, i) => i % step === 0);
  return {
    classes,
    items,
    stats: {
      classes: classes.map((c) => perClass.get(c.id)!),
      train: count('train'),
      val: count('val'),
      test: count('test'),
      excluded: rows.length - kept.length,
      heldOut: 0,
      medianWidth: median(sample.map((r) => r.width)),
      medianHeight: median(sample.map((r) => r.height)),
      greyscale: kept.length > 0 && kept.every((r) => r.channels <= 2),
    },
  };
}

export function snapshotOf(data: TrainingData, classIds: number[]): SnapshotRow[] {
  return data.items.map((it) => ({ imageId: it.imageId, classId: classIds[it.label], split: it.split }));
}

/**
 * Without a val split there is nothing honest to pick the best epoch or stop early on: hold out
 * a stratified, seeded 10% of the training images for this run (the project's splits stay).
 */
export function withValidationHoldout(data: TrainingData, seed: number): TrainingData {
  if (data.stats.val > 0 || data.stats.train < 20) return data;
  const items = data.items.map((it) => ({ ...it }));
  const byClass = new Map<number, TrainItem[]>();
  for (const it of items) if (it.split === 'train') byClass.set(it.label, [...(byClass.get(it.label) ?? []), it]);
  let heldOut = 0;
  for (const [label, list] of byClass) {
    const take = Math.floor(list.length * HOLDOUT_SHARE);
    const order = permutation(list.length, seededRandom(subSeed(seed, 4, label)));
    for (let i = 0; i < take; i++) list[order[i]].split = 'val';
    heldOut += take;
  }
  const classes = data.stats.classes.map((c, i) => {
    const moved = items.filter((it) => it.label === i && it.split === 'val').length;
    return { ...c, train: c.train - moved, val: moved };
  });
  return { ...data, items, stats: { ...data.stats, classes, train: data.stats.train - heldOut, val: heldOut, heldOut } };
}
