import type { Database } from 'better-sqlite3';

/**
 * Schema v3: model-assisted labeling and label checks.
 *
 * `suggestions` holds one model suggestion per unlabeled image (the latest `suggest` job's),
 * `label_checks` one row per run of the label-error finder, and `label_issues` the images whose
 * given label a check found contradicted, one current issue per image. Accepting or dismissing
 * goes through the undo log, which also restores these statuses.
 */
export function up(db: Database): void {
  db.exec(`
    CREATE TABLE suggestions (
      image_id INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
      run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
      class_id INTEGER NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
      confidence REAL NOT NULL,
      status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'dismissed')),
      created_at INTEGER NOT NULL
    ) STRICT;
    -- Least confident first (active learning), and bulk accept above a confidence.
    CREATE INDEX suggestions_by_confidence ON suggestions (status, confidence, image_id);

    CREATE TABLE label_checks (
      id INTEGER PRIMARY KEY,
      run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
      folds INTEGER NOT NULL,
      epochs INTEGER NOT NULL,
      -- Images judged: out-of-fold on train, the run's own predictions on val and test.
      images INTEGER NOT NULL,
      flagged INTEGER NOT NULL,
      seconds REAL NOT NULL,
      -- JSON: the per-class thresholds the rule used, in the run's class order.
      thresholds TEXT NOT NULL,
      created_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE label_issues (
      image_id INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
      check_id INTEGER NOT NULL REFERENCES label_checks (id) ON DELETE CASCADE,
      given_class_id INTEGER NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
      suggested_class_id INTEGER NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
      given_probability REAL NOT NULL,
      suggested_probability REAL NOT NULL,
      -- How the probability was obtained: 'fold' (out-of-fold model) or 'run' (the run on val/test).
      source TEXT NOT NULL CHECK (source IN ('fold', 'run')),
      status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'dismissed')),
      created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX label_issues_by_status ON label_issues (status, image_id);
  `);
}
