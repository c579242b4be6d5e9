import type { Database } from 'better-sqlite3';

/**
 * Schema v2: resumable imports. An import records what it was asked to import; each source file
 * gets one item with its outcome, written in the same transaction as the image row it produced,
 * so a resumed import knows exactly which files are done. The per-project split seed lives in
 * meta, so split assignment is reproducible for this project and different between projects.
 */
export function up(db: Database): void {
  db.exec(`
    CREATE TABLE imports (
      id INTEGER PRIMARY KEY,
      status TEXT NOT NULL
        CHECK (status IN ('running', 'completed', 'cancelled', 'interrupted', 'failed', 'discarded')),
      -- JSON: [{"kind": "path", "path": "/abs"} | {"kind": "upload", "uploadId": "..."}]
      sources TEXT NOT NULL,
      -- Source files found by the latest scan.
      total INTEGER,
      -- JSON array of the class names this import created.
      created_classes TEXT NOT NULL DEFAULT '[]',
      -- Working time summed over runs (a resumed import adds to it).
      seconds REAL NOT NULL DEFAULT 0,
      error TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      finished_at INTEGER
    ) STRICT;
    CREATE INDEX imports_by_status ON imports (status, id);

    -- One row per source file (or refused CSV row, or skipped folder), keyed by its path as shown.
    CREATE TABLE import_items (
      import_id INTEGER NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
      path TEXT NOT NULL,
      outcome TEXT NOT NULL CHECK (outcome IN ('imported', 'duplicate', 'skipped')),
      image_id INTEGER REFERENCES images (id) ON DELETE SET NULL,
      reason TEXT,
      PRIMARY KEY (import_id, path)
    ) STRICT, WITHOUT ROWID;

    INSERT OR IGNORE INTO meta (key, value) VALUES ('split_seed', lower(hex(randomblob(8))));
  `);
}
