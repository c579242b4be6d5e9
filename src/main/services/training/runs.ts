// Training runs as records: what was trained on which exact data, how each epoch went, and how
// it ended. A run that was "running" when its process died is marked interrupted when the
// project is next opened (store/recovery.ts).

import type { DB } from '../../store/database';

export type RunStatus = 'running' | 'completed' | 'cancelled' | 'failed' | 'interrupted';

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

export interface EpochRecord {
  epoch: number;
  trainLoss: number | null;
  trainAccuracy: number | null;
  valLoss: number | null;
  valAccuracy: number | null;
  learningRate: number | null;
  seconds: number;
  imagesPerSecond: number;
}

export interface RunEnd {
  status: Exclude<RunStatus, 'running'>;
  seconds: number;
  imagesPerSecond: number | null;
  bestEpoch: number | null;
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

export function finishRun(db: DB, runId: number, end: RunEnd, now = Date.now()): void {
  db.prepare(
    `UPDATE runs SET status = ?, finished_at = ?, seconds = ?, images_per_second = ?, best_epoch = ?,
       val_accuracy = ?, test_accuracy = ?, error = ?, owner_pid = NULL
     WHERE id = ? AND status = 'running'`,
  ).run(end.status, now, end.seconds, end.imagesPerSecond, end.bestEpoch, end.valAccuracy, end.testAccuracy, end.error ?? null, runId);
}
