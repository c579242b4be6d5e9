// A project is a folder: project.db, media/ (content-addressed originals), thumbs/, models/
// (one folder per training run) and cache/ (decoded training tensors, features). Copy the
// folder and you have the project.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../shared/errors';
import { createDatabase, openDatabase, type DB } from './database';
import { SCHEMA_VERSION } from './migrations';
import { recoverAfterCrash } from './recovery';

export const PROJECT_DB = 'project.db';
export const PROJECT_DIRS = ['media', 'thumbs', 'models', 'cache'] as const;
export const PROJECT_SUFFIX = '.loupe';

export interface ProjectPaths {
  root: string;
  db: string;
  media: string;
  thumbs: string;
  models: string;
  cache: string;
}

export function projectPaths(root: string): ProjectPaths {
  return {
    root,
    db: path.join(root, PROJECT_DB),
    media: path.join(root, 'media'),
    thumbs: path.join(root, 'thumbs'),
    models: path.join(root, 'models'),
    cache: path.join(root, 'cache'),
  };
}

/** The default display name of a project folder: its name without `.loupe`. */
export function defaultProjectName(root: string): string {
  const base = path.basename(root);
  return base.endsWith(PROJECT_SUFFIX) ? base.slice(0, -PROJECT_SUFFIX.length) || base : base;
}

/** Accepts the project folder or its project.db, and returns the folder. */
export function projectRootOf(input: string): string {
  const resolved = path.resolve(input);
  return path.basename(resolved) === PROJECT_DB ? path.dirname(resolved) : resolved;
}

export function isProjectFolder(dir: string): boolean {
  try {
    return fs.statSync(path.join(dir, PROJECT_DB)).isFile();
  } catch {
    return false;
  }
}

export class Project {
  readonly paths: ProjectPaths;
  #closed = false;

  private constructor(
    readonly root: string,
    readonly db: DB,
    readonly readOnly: boolean,
  ) {
    this.paths = projectPaths(root);
  }

  /** A stable, opaque name for this folder, used in media URLs instead of its path. */
  get key(): string {
    return createHash('sha256').update(this.root).digest('hex').slice(0, 24);
  }

  get name(): string {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'name'").get() as
      | { value: string }
      | undefined;
    return row?.value ?? defaultProjectName(this.root);
  }

  get schemaVersion(): number {
    return SCHEMA_VERSION;
  }

  get closed(): boolean {
    return this.#closed;
  }

  static create(dir: string, name?: string): Project {
    const root = path.resolve(dir);
    let createdRoot = false;
    try {
      const entries = fs.readdirSync(root);
      if (entries.length > 0) {
        throw new LoupeError(
          'ALREADY_EXISTS',
          isProjectFolder(root)
            ? `${root} is already a Loupe project. Open it instead.`
            : `${root} exists and is not empty. Choose a new or empty folder.`,
        );
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') {
        throw new LoupeError('INVALID_PATH', `${root} is a file, not a folder.`);
      }
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      fs.mkdirSync(root, { recursive: true });
      createdRoot = true;
    }
    try {
      for (const dir of PROJECT_DIRS) fs.mkdirSync(path.join(root, dir));
      const db = createDatabase(path.join(root, PROJECT_DB));
      const now = Date.now();
      db.transaction(() => {
        const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
        put.run('name', (name ?? defaultProjectName(root)).trim() || defaultProjectName(root));
        put.run('created_at', String(now));
      })();
      return new Project(root, db, false);
    } catch (err) {
      // Leave nothing half-made behind.
      if (createdRoot) fs.rmSync(root, { recursive: true, force: true });
      else for (const entry of fs.readdirSync(root)) fs.rmSync(path.join(root, entry), { recursive: true, force: true });
      throw err;
    }
  }

  static open(input: string, options: { readOnly?: boolean } = {}): Project {
    const root = projectRootOf(input);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(root);
    } catch {
      throw new LoupeError('NOT_FOUND', `${root} does not exist.`);
    }
    if (!stat.isDirectory()) {
      throw new LoupeError('NOT_A_PROJECT', `${root} is not a Loupe project folder.`);
    }
    const dbFile = path.join(root, PROJECT_DB);
    if (!fs.existsSync(dbFile)) {
      throw new LoupeError('NOT_A_PROJECT', `${root} is not a Loupe project (it has no ${PROJECT_DB}).`);
    }
    const db = openDatabase(dbFile, options);
    const project = new Project(root, db, options.readOnly ?? false);
    if (!project.readOnly) {
      // Folders can go missing when a project is copied by hand; recreate the empty ones.
      for (const dir of PROJECT_DIRS) fs.mkdirSync(path.join(root, dir), { recursive: true });
      recoverAfterCrash(db);
    }
    return project;
  }

  /**
   * Folds the WAL into the database file. After bulk writes (an import, labeling thousands of
   * images) a long WAL makes every read several times slower until it is checkpointed.
   */
  checkpoint(): void {
    if (!this.readOnly && !this.#closed) this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.db.close();
  }
}
