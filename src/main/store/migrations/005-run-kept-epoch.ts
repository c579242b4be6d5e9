import type { Database } from 'better-sqlite3';

/**
 * Schema v5: what a run's model is and where its time went.
 *
 * `kept_epoch` is the epoch whose weights the saved model holds (the best validation epoch with
 * restoreBest, else the last one trained), which is not always `best_epoch`; `prepare_seconds`
 * is the part of `seconds` spent preparing the data (feature extraction or decoding), so a run's
 * duration can be its whole wall time and still say how it splits. Older runs keep NULL: their
 * kept epoch is not known for sure.
 */
export function up(db: Database): void {
  db.exec(`
    ALTER TABLE runs ADD COLUMN kept_epoch INTEGER;
    ALTER TABLE runs ADD COLUMN prepare_seconds REAL;
  `);
}
