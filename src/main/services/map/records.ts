// The map's SQL: its layouts (one per features cache), their points, and what the map colours
// points by (labels, splits, the latest run's predictions, pending suggestions).

import type { Split } from '../../../shared/types';
import type { DB } from '../../store/database';

export interface MapImageRow {
  id: number;
  hash: string;
  split: Split;
  classId: number | null;
}

/** Every live image with its split and label, in import order. */
export function liveMapImages(db: DB): MapImageRow[] {
  return db
    .prepare(
      `SELECT i.id, i.hash, i.split, l.class_id AS classId
         FROM images i LEFT JOIN labels l ON l.image_id = i.id
        WHERE i.removed_at IS NULL ORDER BY i.id`,
    )
    .all() as MapImageRow[];
}

export interface LayoutRow {
  id: number;
  features: string;
  backbone: string;
  resolution: number;
  settings: string;
  dims: number;
  featureCount: number;
  mean: Buffer;
  components: Buffer;
  seconds: number;
  createdAt: number;
  updatedAt: number;
}

export function layoutRow(db: DB, features: string): LayoutRow | undefined {
  return db
    .prepare(
      `SELECT id, features, backbone, resolution, settings, dims, feature_count AS featureCount, mean, components, seconds,
              created_at AS createdAt, updated_at AS updatedAt
         FROM map_layouts WHERE features = ?`,
    )
    .get(features) as LayoutRow | undefined;
}

export interface PointRow {
  imageId: number;
  x: number;
  y: number;
  placed: number;
}

/** A layout's points (images removed since included: the caller keeps the live ones). */
export function layoutPoints(db: DB, layoutId: number): PointRow[] {
  return db.prepare('SELECT image_id AS imageId, x, y, placed FROM map_points WHERE layout_id = ? ORDER BY image_id').all(layoutId) as PointRow[];
}

/** A layout's points with their reduced vectors (for placing new images among them). */
export function layoutVectors(db: DB, layoutId: number): { imageId: number; x: number; y: number; vector: Buffer }[] {
  return db.prepare('SELECT image_id AS imageId, x, y, vector FROM map_points WHERE layout_id = ? ORDER BY image_id').all(layoutId) as {
    imageId: number;
    x: number;
    y: number;
    vector: Buffer;
  }[];
}

export interface NewLayout {
  features: string;
  backbone: string;
  resolution: number;
  settings: string;
  dims: number;
  featureCount: number;
  mean: Buffer;
  components: Buffer;
  seconds: number;
}

export interface NewPoint {
  imageId: number;
  x: number;
  y: number;
  vector: Buffer;
}

/** Replaces the layout of `layout.features` (and all its points) in one transaction. */
export function storeLayout(db: DB, layout: NewLayout, points: NewPoint[]): number {
  const now = Date.now();
  return db.transaction(() => {
    db.prepare('DELETE FROM map_layouts WHERE features = ?').run(layout.features);
    const id = Number(
      db
        .prepare(
          `INSERT INTO map_layouts (features, backbone, resolution, settings, dims, feature_count, mean, components, seconds, created_at, updated_at)
           VALUES (@features, @backbone, @resolution, @settings, @dims, @featureCount, @mean, @components, @seconds, @now, @now)`,
        )
        .run({ ...layout, now }).lastInsertRowid,
    );
    const insert = db.prepare('INSERT INTO map_points (layout_id, image_id, x, y, placed, vector) VALUES (?, ?, ?, ?, 0, ?)');
    for (const p of points) insert.run(id, p.imageId, p.x, p.y, p.vector);
    return id;
  })();
}

/** Adds points placed among a layout's (one transaction). */
export function addPlacedPoints(db: DB, layoutId: number, points: NewPoint[]): void {
  db.transaction(() => {
    const insert = db.prepare('INSERT OR REPLACE INTO map_points (layout_id, image_id, x, y, placed, vector) VALUES (?, ?, ?, ?, 1, ?)');
    for (const p of points) insert.run(layoutId, p.imageId, p.x, p.y, p.vector);
    db.prepare('UPDATE map_layouts SET updated_at = ? WHERE id = ?').run(Date.now(), layoutId);
  })();
}

/** The classes in their order, with their colours. */
export function mapClasses(db: DB): { id: number; name: string; color: string }[] {
  return db.prepare('SELECT id, name, color FROM classes ORDER BY position, id').all() as { id: number; name: string; color: string }[];
}

/** The latest completed run (by creation), or undefined. */
export function latestCompletedRun(db: DB): { id: number; classes: string } | undefined {
  return db.prepare("SELECT id, classes FROM runs WHERE status = 'completed' ORDER BY created_at DESC, id DESC LIMIT 1").get() as
    | { id: number; classes: string }
    | undefined;
}

/** A run's predictions (val and test: images it did not train on). */
export function runPredictions(db: DB, runId: number): { imageId: number; predicted: number; confidence: number }[] {
  return db.prepare('SELECT image_id AS imageId, predicted_index AS predicted, confidence FROM predictions WHERE run_id = ?').all(runId) as {
    imageId: number;
    predicted: number;
    confidence: number;
  }[];
}

/** Pending suggestions (predictions of unlabeled images), with whether their run trained on the image. */
export function suggestionPredictions(db: DB): { imageId: number; classId: number; confidence: number; runId: number; trained: number }[] {
  return db
    .prepare(
      `SELECT s.image_id AS imageId, s.class_id AS classId, s.confidence, s.run_id AS runId,
              EXISTS (SELECT 1 FROM run_images r WHERE r.run_id = s.run_id AND r.image_id = s.image_id AND r.split = 'train') AS trained
         FROM suggestions s WHERE s.status = 'pending'`,
    )
    .all() as { imageId: number; classId: number; confidence: number; runId: number; trained: number }[];
}
