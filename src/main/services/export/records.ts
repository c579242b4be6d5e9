// The `exports` table: one row per export, running until it is written and checked.

import fs from 'node:fs';
import type { ExportFormat, ExportInfo, ExportParity, ExportStatus, Split } from '../../../shared/types';
import type { DB } from '../../store/database';

interface Row {
  id: number;
  run_id: number;
  format: ExportFormat;
  path: string;
  status: ExportStatus;
  created_at: number;
  parity_images: number | null;
  parity_max_abs_diff: number | null;
  parity_top1_agreement: number | null;
  error: string | null;
}

export function createExportRecord(db: DB, runId: number, format: ExportFormat, folder: string, now = Date.now()): number {
  return Number(
    db
      .prepare(`INSERT INTO exports (run_id, format, path, status, created_at) VALUES (?, ?, ?, 'running', ?)`)
      .run(runId, format, folder, now).lastInsertRowid,
  );
}

export function completeExport(db: DB, id: number, parity: ExportParity): void {
  db.prepare(
    `UPDATE exports SET status = 'completed', parity_images = ?, parity_max_abs_diff = ?, parity_top1_agreement = ?, error = NULL WHERE id = ?`,
  ).run(parity.images, parity.maxAbsDiff, parity.top1Agreement, id);
}

export function failExport(db: DB, id: number, error: string, parity: ExportParity | null = null): void {
  db.prepare(
    `UPDATE exports SET status = 'failed', error = ?, parity_images = ?, parity_max_abs_diff = ?, parity_top1_agreement = ? WHERE id = ?`,
  ).run(error, parity?.images ?? null, parity && Number.isFinite(parity.maxAbsDiff) ? parity.maxAbsDiff : null, parity?.top1Agreement ?? null, id);
}

/**
 * Marks the exports still "running" as failed (they were cut off with their process) and
 * returns them, so what they left can be swept.
 */
export function failInterruptedExports(db: DB): { id: number; path: string }[] {
  const cutOff = db.prepare(`SELECT id, path FROM exports WHERE status = 'running'`).all() as { id: number; path: string }[];
  db.prepare(`UPDATE exports SET status = 'failed', error = 'Interrupted: Loupe stopped during the export.' WHERE status = 'running'`).run();
  return cutOff;
}

/** A run's stored predictions on one split, of the images that have a true class. */
export function labeledPredictions(db: DB, runId: number, split: Split): { t: number; p: number }[] {
  return db
    .prepare('SELECT true_index AS t, predicted_index AS p FROM predictions WHERE run_id = ? AND split = ? AND true_index IS NOT NULL')
    .all(runId, split) as { t: number; p: number }[];
}

/** The files of a run's images on one split, in image order. */
export function runImageFiles(db: DB, runId: number, split: Split): { hash: string; ext: string; classId: number; imageId: number }[] {
  return db
    .prepare(
      `SELECT i.hash, i.ext, r.class_id AS classId, r.image_id AS imageId FROM run_images r JOIN images i ON i.id = r.image_id
        WHERE r.run_id = ? AND r.split = ? ORDER BY r.image_id`,
    )
    .all(runId, split) as { hash: string; ext: string; classId: number; imageId: number }[];
}

/** A cancelled export leaves nothing behind, not even its row. */
export function deleteExport(db: DB, id: number): void {
  db.prepare('DELETE FROM exports WHERE id = ?').run(id);
}

function infoOf(row: Row): ExportInfo {
  const zip = `${row.path}.zip`;
  return {
    id: row.id,
    runId: row.run_id,
    format: row.format,
    path: row.path,
    zipPath: row.status === 'completed' && fs.existsSync(zip) ? zip : null,
    status: row.status,
    createdAt: row.created_at,
    parity:
      row.parity_images === null || row.parity_top1_agreement === null
        ? null
        : {
            against: row.format === 'tfjs' ? 'tfjs' : row.format === 'tflite' || row.format === 'tflite-int8' ? 'tflite' : 'onnxruntime',
            images: row.parity_images,
            maxAbsDiff: row.parity_max_abs_diff ?? Infinity,
            top1Agreement: row.parity_top1_agreement,
          },
    error: row.error,
  };
}

/** Exports newest first, of one run or all. */
export function listExports(db: DB, runId?: number): ExportInfo[] {
  const rows = (
    runId === undefined
      ? db.prepare('SELECT * FROM exports ORDER BY id DESC').all()
      : db.prepare('SELECT * FROM exports WHERE run_id = ? ORDER BY id DESC').all(runId)
  ) as Row[];
  return rows.map(infoOf);
}

export function exportInfo(db: DB, id: number): ExportInfo | null {
  const row = db.prepare('SELECT * FROM exports WHERE id = ?').get(id) as Row | undefined;
  return row ? infoOf(row) : null;
}

/** The stored probabilities (float32 blob) of a run's prediction for each image, in order; undefined where it has none. */
export function storedProbabilities(db: DB, runId: number, imageIds: number[]): (Buffer | undefined)[] {
  const get = db.prepare('SELECT probs FROM predictions WHERE run_id = ? AND image_id = ?');
  return imageIds.map((id) => (get.get(runId, id) as { probs: Buffer } | undefined)?.probs);
}
