import type { Database } from 'better-sqlite3';

/**
 * Schema v7: the map of every image (a 2-D UMAP layout of the backbone features).
 *
 * One layout per features cache (`features`: the backbone and the resolution its features were
 * extracted at), so switching backbones keeps each one's map. A layout keeps the PCA basis its
 * neighbours were found in (`mean`, `components`: float32), so images added later are projected
 * the same way and placed among their nearest laid-out neighbours without moving the others;
 * each point keeps its reduced vector for that search. `placed` tells a point laid out by UMAP
 * (0) from one placed afterwards (1).
 */
export function up(db: Database): void {
  db.exec(`
    CREATE TABLE map_layouts (
      id INTEGER PRIMARY KEY,
      features TEXT NOT NULL UNIQUE,
      backbone TEXT NOT NULL,
      resolution INTEGER NOT NULL,
      settings TEXT NOT NULL,
      dims INTEGER NOT NULL,
      feature_count INTEGER NOT NULL,
      mean BLOB NOT NULL,
      components BLOB NOT NULL,
      seconds REAL NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE map_points (
      layout_id INTEGER NOT NULL REFERENCES map_layouts (id) ON DELETE CASCADE,
      image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
      x REAL NOT NULL,
      y REAL NOT NULL,
      placed INTEGER NOT NULL,
      vector BLOB NOT NULL,
      PRIMARY KEY (layout_id, image_id)
    ) STRICT, WITHOUT ROWID;
  `);
}
