// Loupe's own small database (recent projects, settings), shared by every process on this
// machine; unlike project databases it is opened in normal locking mode.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import type { RecentProject } from '../../shared/types';
import { isProjectFolder } from './project';

const MAX_RECENT = 20;

export class AppState {
  readonly #db: Database.Database;

  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    this.#db = new Database(path.join(dir, 'app.db'), { timeout: 5000 });
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('trusted_schema = OFF');
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS recent_projects (
        path TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        opened_at INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE IF NOT EXISTS settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
    `);
  }

  touchRecent(projectPath: string, name: string, now = Date.now()): void {
    this.#db.transaction(() => {
      this.#db
        .prepare(
          `INSERT INTO recent_projects (path, name, opened_at) VALUES (?, ?, ?)
           ON CONFLICT (path) DO UPDATE SET name = excluded.name, opened_at = excluded.opened_at`,
        )
        .run(projectPath, name, now);
      this.#db
        .prepare(
          `DELETE FROM recent_projects WHERE path NOT IN
             (SELECT path FROM recent_projects ORDER BY opened_at DESC LIMIT ?)`,
        )
        .run(MAX_RECENT);
    })();
  }

  recent(): RecentProject[] {
    const rows = this.#db
      .prepare('SELECT path, name, opened_at AS openedAt FROM recent_projects ORDER BY opened_at DESC')
      .all() as Omit<RecentProject, 'available'>[];
    return rows.map((row) => ({ ...row, available: isProjectFolder(row.path) }));
  }

  forgetRecent(projectPath: string): void {
    this.#db.prepare('DELETE FROM recent_projects WHERE path = ?').run(projectPath);
  }

  getSetting(key: string): string | undefined {
    const row = this.#db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  setSetting(key: string, value: string): void {
    this.#db
      .prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
      .run(key, value);
  }

  close(): void {
    this.#db.close();
  }
}
