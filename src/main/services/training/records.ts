// Training records: runs, what was trained on which exact data, how each epoch went, and how
// it ended. A run that was "running" when its process died is marked interrupted when the
// project is next opened (store/recovery.ts).

import { LoupeError } from '../../../shared/errors';
import type { ArchName, RunBackendName, EpochMetrics, RunDetails, RunStatus, RunSummary, Split, TrainConfig, TrainPlan } from '../../../shared/types';
import { keptEpochOf } from './kept-epoch';
import type { DB } from '../../store/database';

export type { RunStatus };

export interface RunClass {
  id: number;
  name: string;
}

export interface SnapshotRow {
  imageId: number;
  classId: number;
  split: 'train' | 'val' | 'test';
}

export interface NewRun {
  arch: string;
  backend: string;
  backendReason: string;
  device: string;
  seed: number;
  plan: unknown;
  config: unknown;
  classes: RunClass[];
  snapshot: SnapshotRow[];
}

export type EpochRecord = EpochMetrics;

export interface RunEnd {
  status: Exclude<RunStatus, 'running'>;
  seconds: number;
  imagesPerSecond: number | null;
  bestEpoch: number | null;
  /** The epoch whose weights were saved as the model; null without a model. */
  keptEpoch: number | null;
  /** Of `seconds`: preparing the data (feature extraction or decoding). */
  prepareSeconds: number | null;
  valAccuracy: number | null;
  testAccuracy: number | null;
  error?: string | null;
}

export function createRun(db: DB, run: NewRun, now = Date.now()): number {
  return db.transaction(() => {
    const id = Number(
      db
        .prepare(
          `INSERT INTO runs (status, arch, backend, backend_reason, device, seed, plan, config, classes, created_at, owner_pid)
           VALUES ('running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          run.arch,
          run.backend,
          run.backendReason,
          run.device,
          run.seed,
          JSON.stringify(run.plan),
          JSON.stringify(run.config),
          JSON.stringify(run.classes),
          now,
          process.pid,
        ).lastInsertRowid,
    );
    const insert = db.prepare('INSERT INTO run_images (run_id, image_id, class_id, split) VALUES (?, ?, ?, ?)');
    for (const row of run.snapshot) insert.run(id, row.imageId, row.classId, row.split);
    return id;
  })();
}

export function recordEpoch(db: DB, runId: number, e: EpochRecord): void {
  db.prepare(
    `INSERT INTO run_epochs (run_id, epoch, train_loss, train_accuracy, val_loss, val_accuracy, learning_rate, seconds, images_per_second)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (run_id, epoch) DO UPDATE SET train_loss = excluded.train_loss, train_accuracy = excluded.train_accuracy,
       val_loss = excluded.val_loss, val_accuracy = excluded.val_accuracy, learning_rate = excluded.learning_rate,
       seconds = excluded.seconds, images_per_second = excluded.images_per_second`,
  ).run(runId, e.epoch, e.trainLoss, e.trainAccuracy, e.valLoss, e.valAccuracy, e.learningRate, e.seconds, e.imagesPerSecond);
}

/**
 * The run's time budget fitted its epochs to the speed measured: the run is now set to train
 * `epochs`, and its plan says why (after the plan's own reasons), in one transaction.
 */
export function refitEpochs(db: DB, runId: number, epochs: number, why: string): void {
  db.transaction(() => {
    const row = db.prepare('SELECT plan, config FROM runs WHERE id = ?').get(runId) as { plan: string; config: string } | undefined;
    if (!row) return;
    const config = { ...(JSON.parse(row.config) as TrainConfig), epochs };
    const plan = JSON.parse(row.plan) as TrainPlan | null;
    const updated = plan && { ...plan, config: { ...plan.config, epochs }, explanation: [...plan.explanation, why] };
    db.prepare('UPDATE runs SET plan = ?, config = ? WHERE id = ?').run(JSON.stringify(updated), JSON.stringify(config), runId);
  })();
}

export function finishRun(db: DB, runId: number, end: RunEnd, now = Date.now()): void {
  db.prepare(
    `UPDATE runs SET status = ?, finished_at = ?, seconds = ?, images_per_second = ?, best_epoch = ?, kept_epoch = ?, prepare_seconds = ?,
       val_accuracy = ?, test_accuracy = ?, error = ?, owner_pid = NULL
     WHERE id = ? AND status = 'running'`,
  ).run(end.status, now, end.seconds, end.imagesPerSecond, end.bestEpoch, end.keptEpoch, end.prepareSeconds, end.valAccuracy, end.testAccuracy, end.error ?? null, runId);
}

/** Every labeled, live image with what training needs of it, in import order. */
export function labeledImageRows<Row>(db: DB): Row[] {
  return db
    .prepare(
      `SELECT i.id AS imageId, i.hash, i.ext, l.class_id AS classId, i.split, i.width, i.height, i.channels
         FROM labels l JOIN images i ON i.id = l.image_id
        WHERE i.removed_at IS NULL
        ORDER BY i.id`,
    )
    .all() as Row[];
}

/** The project's classes in their order. */
export function classesInOrder(db: DB): RunClass[] {
  return db.prepare('SELECT id, name FROM classes ORDER BY position, id').all() as RunClass[];
}

/** A writer of a run's predictions (one row per image and split), prepared once; the caller holds the transaction. */
export function predictionWriter(db: DB) {
  const insert = db.prepare(
    `INSERT OR REPLACE INTO predictions (run_id, image_id, split, true_index, predicted_index, confidence, loss, probs)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  return (runId: number, imageId: number, split: 'val' | 'test', trueIndex: number, predictedIndex: number, confidence: number, loss: number, probs: Buffer): void => {
    insert.run(runId, imageId, split, trueIndex, predictedIndex, confidence, loss, probs);
  };
}

/** The JSON kept in meta under `key`, as text, or null. */
export function metaText(db: DB, key: string): string | null {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row ? row.value : null;
}

/** Keeps `value` in meta under `key`; null deletes it. */
export function setMetaText(db: DB, key: string, value: string | null): void {
  if (value === null) db.prepare('DELETE FROM meta WHERE key = ?').run(key);
  else db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}

interface RunRow {
  id: number;
  status: RunStatus;
  arch: string;
  backend: string;
  backend_reason: string;
  device: string;
  seed: number;
  plan: string;
  config: string;
  classes: string;
  created_at: number;
  finished_at: number | null;
  seconds: number | null;
  images_per_second: number | null;
  best_epoch: number | null;
  kept_epoch: number | null;
  prepare_seconds: number | null;
  val_accuracy: number | null;
  test_accuracy: number | null;
  error: string | null;
  epochs: number;
}

const RUN_COLUMNS = `r.*, (SELECT count(*) FROM run_epochs e WHERE e.run_id = r.id) AS epochs`;

function bestRunId(db: DB): number | null {
  const row = db
    .prepare(`SELECT id FROM runs WHERE status = 'completed' AND val_accuracy IS NOT NULL ORDER BY val_accuracy DESC, id DESC LIMIT 1`)
    .get() as { id: number } | undefined;
  return row?.id ?? null;
}

function summaryOf(row: RunRow, best: number | null): RunSummary {
  const config = JSON.parse(row.config) as TrainConfig;
  const plan = JSON.parse(row.plan) as TrainPlan | null;
  return {
    id: row.id,
    status: row.status,
    arch: row.arch as ArchName,
    backend: row.backend as RunBackendName,
    device: row.device,
    seed: row.seed,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
    seconds: row.seconds,
    imagesPerSecond: row.images_per_second,
    epochs: row.epochs,
    plannedEpochs: config.epochs,
    bestEpoch: row.best_epoch,
    valAccuracy: row.val_accuracy,
    testAccuracy: row.test_accuracy,
    error: row.error,
    best: row.id === best,
    backbone: config.backbone?.name ?? null,
    kept: keptEpochOf(config, plan?.data.val ?? 0, row.kept_epoch),
    prepareSeconds: row.prepare_seconds,
  };
}

/** Every run, newest first, with the best completed one marked. */
export function listRuns(db: DB): RunSummary[] {
  const best = bestRunId(db);
  return (db.prepare(`SELECT ${RUN_COLUMNS} FROM runs r ORDER BY r.id DESC`).all() as RunRow[]).map((r) => summaryOf(r, best));
}

export function epochHistory(db: DB, runId: number): EpochMetrics[] {
  return db
    .prepare(
      `SELECT epoch, train_loss AS trainLoss, train_accuracy AS trainAccuracy, val_loss AS valLoss, val_accuracy AS valAccuracy,
              learning_rate AS learningRate, seconds, images_per_second AS imagesPerSecond
         FROM run_epochs WHERE run_id = ? ORDER BY epoch`,
    )
    .all(runId) as EpochMetrics[];
}

export function runDetails(db: DB, runId: number): RunDetails {
  const row = db.prepare(`SELECT ${RUN_COLUMNS} FROM runs r WHERE r.id = ?`).get(runId) as RunRow | undefined;
  if (!row) throw new LoupeError('NOT_FOUND', `There is no run #${runId} in this project.`);
  const splits = { train: 0, val: 0, test: 0 };
  for (const s of db.prepare('SELECT split, count(*) AS n FROM run_images WHERE run_id = ? GROUP BY split').all(runId) as { split: Split; n: number }[]) {
    splits[s.split] = s.n;
  }
  return {
    ...summaryOf(row, bestRunId(db)),
    backendReason: row.backend_reason,
    config: JSON.parse(row.config) as TrainConfig,
    plan: JSON.parse(row.plan) as TrainPlan | null,
    classes: JSON.parse(row.classes) as RunClass[],
    history: epochHistory(db, runId),
    splits,
  };
}

/** Every live image's file and split, and whether it is labeled (1) or not (0). */
export function liveImageFiles(db: DB): { hash: string; ext: string; split: string; labeled: number }[] {
  return db
    .prepare(`SELECT i.hash, i.ext, i.split, l.image_id IS NOT NULL AS labeled FROM images i LEFT JOIN labels l ON l.image_id = i.id WHERE i.removed_at IS NULL`)
    .all() as { hash: string; ext: string; split: string; labeled: number }[];
}
