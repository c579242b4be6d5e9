import type { Database } from 'better-sqlite3';

/**
 * Schema v4: where a label came from, and how reliable a label check was.
 *
 * `labels.source` gains 'check': a label written by accepting a label-check finding (a model's
 * word, like 'suggestion'), so scores can leave model-written labels out. SQLite cannot alter a
 * CHECK constraint, so the table is rebuilt (its rows copied as they are, its index recreated);
 * nothing references `labels`, and the rebuild runs inside the migration's transaction, so a
 * failure leaves the v3 table untouched.
 *
 * `label_checks` gains how many findings the reliability gate held back and the measurements it
 * used (JSON, one group per judge: fold models on train, the run on val/test).
 */
export function up(db: Database): void {
  db.exec(`
    CREATE TABLE labels_v4 (
      image_id INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
      class_id INTEGER NOT NULL REFERENCES classes (id),
      source TEXT NOT NULL CHECK (source IN ('user', 'import', 'suggestion', 'check')),
      updated_at INTEGER NOT NULL
    ) STRICT;
    INSERT INTO labels_v4 (image_id, class_id, source, updated_at) SELECT image_id, class_id, source, updated_at FROM labels;
    DROP TABLE labels;
    ALTER TABLE labels_v4 RENAME TO labels;
    CREATE INDEX labels_class ON labels (class_id, image_id);

    ALTER TABLE label_checks ADD COLUMN held_back INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE label_checks ADD COLUMN reliability TEXT NOT NULL DEFAULT '[]';
  `);
}
