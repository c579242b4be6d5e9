// The evaluation folder's records: what it reads of runs and their stored predictions, and the
// suggestions, label checks and label issues it keeps. The transactions stay with the services
// (each is their unit of work); the statements are here.

import type { BackendName, LabelCheckInfo, LabelIssue, LabelSource, ReviewStatus, RunStatus, Split } from '../../../shared/types';
import type { DB } from '../../store/database';

// ---------------------------------------------------------------------------------------------
// Runs and predictions

export interface RunRecord {
  id: number;
  createdAt: number;
  status: RunStatus;
  backend: BackendName;
  classes: string;
  config: string;
  bestEpoch: number | null;
}

export function runRecord(db: DB, runId: number): RunRecord | undefined {
  return db
    .prepare('SELECT id, status, backend, classes, config, best_epoch AS bestEpoch, created_at AS createdAt FROM runs WHERE id = ?')
    .get(runId) as RunRecord | undefined;
}

/** The best completed run (by validation accuracy), else the latest completed one. */
export function defaultRunRecordId(db: DB): number | undefined {
  const row = db
    .prepare(
      `SELECT id FROM runs WHERE status = 'completed'
        ORDER BY val_accuracy IS NULL, val_accuracy DESC, id DESC LIMIT 1`,
    )
    .get() as { id: number } | undefined;
  return row?.id;
}

/** How many predictions a run stored on each split. */
export function predictionCounts(db: DB, runId: number): { split: string; n: number }[] {
  return db.prepare('SELECT split, count(*) AS n FROM predictions WHERE run_id = ? GROUP BY split').all(runId) as { split: string; n: number }[];
}

export interface PredictionRow {
  imageId: number;
  snapshotTruth: number | null;
  predicted: number;
  confidence: number;
  probs: Buffer;
  classId: number | null;
  source: LabelSource | null;
  labeledAt: number | null;
  removed: number;
}

/** A run's predictions on a split, with each image's current label. */
export function predictionRows(db: DB, runId: number, split: string): PredictionRow[] {
  return db
    .prepare(
      `SELECT p.image_id AS imageId, p.true_index AS snapshotTruth, p.predicted_index AS predicted, p.confidence, p.probs,
              l.class_id AS classId, l.source, l.updated_at AS labeledAt, i.removed_at IS NOT NULL AS removed
         FROM predictions p JOIN images i ON i.id = p.image_id LEFT JOIN labels l ON l.image_id = p.image_id
        WHERE p.run_id = ? AND p.split = ?
        ORDER BY p.image_id`,
    )
    .all(runId, split) as PredictionRow[];
}

// ---------------------------------------------------------------------------------------------
// Images and classes as the checks see them

/** Live labeled images with their current class and split, in import order. */
export function labeledImages(db: DB): { imageId: number; hash: string; ext: string; classId: number; split: Split }[] {
  return db
    .prepare(
      `SELECT i.id AS imageId, i.hash, i.ext, l.class_id AS classId, i.split
         FROM labels l JOIN images i ON i.id = l.image_id WHERE i.removed_at IS NULL ORDER BY i.id`,
    )
    .all() as { imageId: number; hash: string; ext: string; classId: number; split: Split }[];
}

/** Live unlabeled images, in import order. */
export function unlabeledImages(db: DB): { imageId: number; hash: string; ext: string }[] {
  return db
    .prepare(
      `SELECT i.id AS imageId, i.hash, i.ext FROM images i INDEXED BY images_live LEFT JOIN labels l ON l.image_id = i.id
        WHERE i.removed_at IS NULL AND l.image_id IS NULL ORDER BY i.id`,
    )
    .all() as { imageId: number; hash: string; ext: string }[];
}

/** The ids of the classes that exist now. */
export function liveClassIds(db: DB): Set<number> {
  return new Set(db.prepare('SELECT id FROM classes').pluck().all() as number[]);
}

// ---------------------------------------------------------------------------------------------
// Suggestions

/** Drops the pending suggestions and any of these images (a JSON list of ids). */
export function clearSuggestions(db: DB, imageIdsJson: string): void {
  db.prepare("DELETE FROM suggestions WHERE status = 'pending' OR image_id IN (SELECT value FROM json_each(?))").run(imageIdsJson);
}

/** A writer of pending suggestions, prepared once; the caller holds the transaction. */
export function suggestionWriter(db: DB): (imageId: number, runId: number, classId: number, confidence: number, now: number) => void {
  const insert = db.prepare("INSERT INTO suggestions (image_id, run_id, class_id, confidence, status, created_at) VALUES (?, ?, ?, ?, 'pending', ?)");
  return (imageId, runId, classId, confidence, now) => {
    insert.run(imageId, runId, classId, confidence, now);
  };
}

const PENDING_ON_UNLABELED = `FROM suggestions s JOIN images i ON i.id = s.image_id LEFT JOIN labels l ON l.image_id = s.image_id
  WHERE s.status = 'pending' AND i.removed_at IS NULL AND l.image_id IS NULL`;

/** The pending suggestions of the images that are still unlabeled, least confident first. */
export function pendingSuggestions(db: DB): { imageId: number; classId: number; confidence: number; runId: number; split: Split }[] {
  return db
    .prepare(`SELECT s.image_id AS imageId, s.class_id AS classId, s.confidence, s.run_id AS runId, i.split ${PENDING_ON_UNLABELED} ORDER BY s.confidence, s.image_id`)
    .all() as { imageId: number; classId: number; confidence: number; runId: number; split: Split }[];
}

/** The pending suggestions on unlabeled images of these images and splits (null: any), by image. */
export function pendingSuggestionsOf(db: DB, imageIds: number[] | undefined, splits: Split[] | null): { id: number; classId: number; confidence: number }[] {
  return db
    .prepare(
      `SELECT s.image_id AS id, s.class_id AS classId, s.confidence ${PENDING_ON_UNLABELED}
         AND (@ids IS NULL OR s.image_id IN (SELECT value FROM json_each(@ids)))
         AND (@splits IS NULL OR i.split IN (SELECT value FROM json_each(@splits)))
       ORDER BY s.image_id`,
    )
    .all({ ids: imageIds === undefined ? null : JSON.stringify(imageIds), splits: splits === null ? null : JSON.stringify(splits) }) as {
    id: number;
    classId: number;
    confidence: number;
  }[];
}

// ---------------------------------------------------------------------------------------------
// Label checks and label issues

const CHECK_COLUMNS = `id, run_id AS runId, folds, epochs, images, flagged, seconds, created_at AS createdAt, held_back AS heldBack, reliability`;

export type CheckRow = Omit<LabelCheckInfo, 'reliability' | 'verdict'> & { reliability: string };

export function latestCheckRow(db: DB): CheckRow | undefined {
  return db.prepare(`SELECT ${CHECK_COLUMNS} FROM label_checks ORDER BY id DESC LIMIT 1`).get() as CheckRow | undefined;
}

export function checkRow(db: DB, id: number): CheckRow | undefined {
  return db.prepare(`SELECT ${CHECK_COLUMNS} FROM label_checks WHERE id = ?`).get(id) as CheckRow | undefined;
}

export interface NewCheck {
  runId: number;
  folds: number;
  epochs: number;
  images: number;
  flagged: number;
  seconds: number;
  thresholds: string;
  heldBack: number;
  reliability: string;
  createdAt: number;
}

export function insertLabelCheck(db: DB, c: NewCheck): number {
  return Number(
    db
      .prepare(
        `INSERT INTO label_checks (run_id, folds, epochs, images, flagged, seconds, thresholds, held_back, reliability, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(c.runId, c.folds, c.epochs, c.images, c.flagged, c.seconds, c.thresholds, c.heldBack, c.reliability, c.createdAt).lastInsertRowid,
  );
}

export function clearPendingIssues(db: DB): void {
  db.prepare("DELETE FROM label_issues WHERE status = 'pending'").run();
}

/** Reads an image's earlier issue and writes new pending ones, prepared once; the caller holds the transaction. */
export function issueStatements(db: DB) {
  const existing = db.prepare('SELECT status, given_class_id AS given FROM label_issues WHERE image_id = ?');
  const insert = db.prepare(
    `INSERT OR REPLACE INTO label_issues (image_id, check_id, given_class_id, suggested_class_id, given_probability, suggested_probability, source, status, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)`,
  );
  return {
    existing: (imageId: number) => existing.get(imageId) as { status: string; given: number } | undefined,
    insert: (imageId: number, checkId: number, given: number, suggested: number, pg: number, ps: number, source: string, now: number): void => {
      insert.run(imageId, checkId, given, suggested, pg, ps, source, now);
    },
  };
}

/** Issues with this status; a pending one whose image was relabeled since, or removed, is left out. */
export function labelIssueRows(db: DB, status: ReviewStatus): LabelIssue[] {
  return db
    .prepare(
      `SELECT li.image_id AS imageId, i.split, li.given_class_id AS givenClassId, li.suggested_class_id AS suggestedClassId,
              li.given_probability AS givenProbability, li.suggested_probability AS suggestedProbability, li.source, li.status
         FROM label_issues li JOIN images i ON i.id = li.image_id LEFT JOIN labels l ON l.image_id = li.image_id
        WHERE li.status = ? AND i.removed_at IS NULL AND (li.status <> 'pending' OR l.class_id = li.given_class_id)
        ORDER BY li.suggested_probability - li.given_probability DESC, li.image_id`,
    )
    .all(status) as LabelIssue[];
}

/** The pending, still current issues of these images, with each image's label source. */
export function pendingIssuesOf(db: DB, imageIds: number[]): { id: number; givenClassId: number; suggestedClassId: number; source: LabelSource }[] {
  return db
    .prepare(
      `SELECT li.image_id AS id, li.given_class_id AS givenClassId, li.suggested_class_id AS suggestedClassId, l.source
         FROM label_issues li JOIN images i ON i.id = li.image_id JOIN labels l ON l.image_id = li.image_id
        WHERE li.image_id IN (SELECT value FROM json_each(?)) AND li.status = 'pending' AND i.removed_at IS NULL
          AND l.class_id = li.given_class_id
        ORDER BY li.image_id`,
    )
    .all(JSON.stringify(imageIds)) as { id: number; givenClassId: number; suggestedClassId: number; source: LabelSource }[];
}
