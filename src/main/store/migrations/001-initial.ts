import type { Database } from 'better-sqlite3';

/** Schema v1: classes, images, labels and splits, the undo log, training runs, predictions, exports. */
export function up(db: Database): void {
  db.exec(`
    CREATE TABLE meta (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE classes (
      id INTEGER PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      color TEXT NOT NULL,
      position INTEGER NOT NULL,
      created_at INTEGER NOT NULL
    ) STRICT;

    -- One row per distinct content (SHA-256). The file lives at media/<hash[0:2]>/<hash>.<ext>.
    -- removed_at marks an image taken out of the project (undoable); its media file stays.
    CREATE TABLE images (
      id INTEGER PRIMARY KEY,
      hash TEXT NOT NULL UNIQUE CHECK (length(hash) = 64),
      ext TEXT NOT NULL,
      format TEXT NOT NULL,
      width INTEGER NOT NULL,
      height INTEGER NOT NULL,
      channels INTEGER NOT NULL,
      bytes INTEGER NOT NULL,
      original_name TEXT NOT NULL,
      source_path TEXT,
      split TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
      split_source TEXT NOT NULL DEFAULT 'auto' CHECK (split_source IN ('auto', 'folder', 'user')),
      added_at INTEGER NOT NULL,
      removed_at INTEGER
    ) STRICT;
    CREATE INDEX images_live ON images (id) WHERE removed_at IS NULL;
    CREATE INDEX images_live_split ON images (split, id) WHERE removed_at IS NULL;
    CREATE INDEX images_live_name ON images (original_name, id) WHERE removed_at IS NULL;
    CREATE INDEX images_removed ON images (id) WHERE removed_at IS NOT NULL;

    -- Who set a label: the user, the import (folder or CSV), or an accepted model suggestion.
    CREATE TABLE labels (
      image_id INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
      class_id INTEGER NOT NULL REFERENCES classes (id),
      source TEXT NOT NULL CHECK (source IN ('user', 'import', 'suggestion')),
      updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX labels_class ON labels (class_id, image_id);

    -- Undo/redo log. Each action stores what to write to undo it and to redo it, as JSON.
    CREATE TABLE actions (
      id INTEGER PRIMARY KEY,
      kind TEXT NOT NULL,
      summary TEXT NOT NULL,
      undo TEXT NOT NULL,
      redo TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      undone INTEGER NOT NULL DEFAULT 0 CHECK (undone IN (0, 1))
    ) STRICT;
    -- Undo/redo find their action through this index, never by reading rows whose JSON can
    -- span many overflow pages.
    CREATE INDEX actions_state ON actions (undone, id);

    CREATE TABLE runs (
      id INTEGER PRIMARY KEY,
      status TEXT NOT NULL
        CHECK (status IN ('running', 'completed', 'cancelled', 'failed', 'interrupted')),
      arch TEXT NOT NULL,
      backend TEXT NOT NULL,
      backend_reason TEXT NOT NULL DEFAULT '',
      device TEXT NOT NULL DEFAULT '',
      seed INTEGER NOT NULL,
      plan TEXT NOT NULL,
      config TEXT NOT NULL,
      classes TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      finished_at INTEGER,
      seconds REAL,
      images_per_second REAL,
      best_epoch INTEGER,
      val_accuracy REAL,
      test_accuracy REAL,
      error TEXT,
      owner_pid INTEGER
    ) STRICT;

    -- The exact data a run saw: which images, with which label and split.
    CREATE TABLE run_images (
      run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
      image_id INTEGER NOT NULL,
      class_id INTEGER NOT NULL,
      split TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
      PRIMARY KEY (run_id, image_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE run_epochs (
      run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
      epoch INTEGER NOT NULL,
      train_loss REAL,
      train_accuracy REAL,
      val_loss REAL,
      val_accuracy REAL,
      learning_rate REAL,
      seconds REAL,
      images_per_second REAL,
      PRIMARY KEY (run_id, epoch)
    ) STRICT, WITHOUT ROWID;

    -- All class probabilities (float32, in the run's class order) for each evaluated image.
    CREATE TABLE predictions (
      run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
      image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
      split TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
      true_index INTEGER,
      predicted_index INTEGER NOT NULL,
      confidence REAL NOT NULL,
      loss REAL,
      probs BLOB NOT NULL,
      PRIMARY KEY (run_id, image_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX predictions_by_split ON predictions (run_id, split, true_index, predicted_index);

    CREATE TABLE exports (
      id INTEGER PRIMARY KEY,
      run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
      format TEXT NOT NULL,
      path TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
      created_at INTEGER NOT NULL,
      parity_images INTEGER,
      parity_max_abs_diff REAL,
      parity_top1_agreement REAL,
      error TEXT
    ) STRICT;
  `);
}
