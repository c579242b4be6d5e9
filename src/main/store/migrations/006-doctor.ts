import type { Database } from 'better-sqlite3';

/**
 * Schema v6: the data doctor's memory.
 *
 * `doctor_images` holds what the doctor read from each image's pixels (perceptual hashes and the
 * quality figures), so a second check decodes only images added since; an image's content never
 * changes under its id (media is content-addressed), so a row stays true until the image goes.
 * `doctor_reports` keeps the last check's report for the studio to show again. A dismissed
 * finding's key (`doctor_dismissals`) names its check and its images, so it shows again only when
 * its images change.
 */
export function up(db: Database): void {
  db.exec(`
    CREATE TABLE doctor_images (
      image_id INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
      phash TEXT,
      phash_mirror TEXT,
      mean REAL,
      std REAL,
      sharpness REAL,
      colour REAL,
      error TEXT,
      checked_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE doctor_reports (
      id INTEGER PRIMARY KEY,
      report TEXT NOT NULL,
      created_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE doctor_dismissals (
      key TEXT PRIMARY KEY,
      check_name TEXT NOT NULL,
      dismissed_at INTEGER NOT NULL
    ) STRICT;
  `);
}
