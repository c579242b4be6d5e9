// A project is a folder: project.db, media/ (content-addressed originals), thumbs/, models/
// (one folder per training run) and cache/ (decoded training tensors, features). Copy the
// folder and you have the project.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../shared/errors';
import { createDatabase, openDatabase, type DB } from './database';
import { readOnlyCopy, readOnlyReason, refuseEscapingFolders } from './folder-checks';
import { SCHEMA_VERSION } from './migrations';
import { recoverAfterCrash, sweepModelTemps } from './recovery';

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

export interface OpenOptions {
  /** Open without writing anything, even where the folder is writable. */
  readOnly?: boolean;
  /**
   * Where the folder cannot be written (a read-only disk or share, no permission), open it
   * read-only instead of refusing it. The studio does; commands that write do not.
   */
  allowReadOnly?: boolean;
}

export function isProjectFolder(dir: string): boolean {
  try {
    return fs.statSync(path.join(dir, PROJECT_DB)).isFile();
  } catch {
    return false;
  }
}

/** The folders holding `dir`, nearest first (not `dir` itself), up to the file system's root. */
function ancestors(dir: string): string[] {
  const out: string[] = [];
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    out.push(d);
    if (path.dirname(d) === d) return out;
  }
}

/**
 * The Loupe project `dir` lies inside (strictly: not `dir` itself), or null. Both the path as
 * given and the real path of its nearest existing folder are checked, so a link into a project
 * is seen too.
 */
export function enclosingProject(dir: string): string | null {
  const resolved = path.resolve(dir);
  const chains = [ancestors(resolved)];
  const existing = [resolved, ...chains[0]].find((d) => fs.existsSync(d));
  if (existing) {
    try {
      const real = fs.realpathSync(existing);
      // The real path of `dir` itself (when it exists) is not its own ancestor.
      chains.push(existing === resolved ? ancestors(real) : [real, ...ancestors(real)]);
    } catch {
      // Unreadable: the lexical chain is all there is.
    }
  }
  for (const chain of chains) {
    const found = chain.find((d) => isProjectFolder(d));
    if (found) return found;
  }
  return null;
}

/**
 * The read-only guard every write goes through: throws READ_ONLY where the project is open
 * read-only, else returns it (`requireWritable(session.requireProject())`). `consequence`, where
 * given, ends the message ("This project is open read-only; settings cannot be saved.").
 */
export function requireWritable(project: Project, consequence?: string): Project {
  if (project.readOnly) throw new LoupeError('READ_ONLY', `This project is open read-only${consequence ? `; ${consequence}` : ''}.`);
  return project;
}

export class Project {
  readonly paths: ProjectPaths;
  #closed = false;
  #dispose: (() => void) | null = null;

  private constructor(
    readonly root: string,
    readonly db: DB,
    /** Why the project is open read-only (a sentence fragment), or null when it is writable. */
    readonly readOnlyReason: string | null,
  ) {
    this.paths = projectPaths(root);
  }

  get readOnly(): boolean {
    return this.readOnlyReason !== null;
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
    const outer = enclosingProject(root);
    if (outer) {
      throw new LoupeError(
        'INVALID_PATH',
        `${root} is inside the Loupe project ${outer}: a project cannot hold another project. Choose a folder outside it.`,
      );
    }
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
      return new Project(root, db, null);
    } catch (err) {
      // Leave nothing half-made behind.
      if (createdRoot) fs.rmSync(root, { recursive: true, force: true });
      else for (const entry of fs.readdirSync(root)) fs.rmSync(path.join(root, entry), { recursive: true, force: true });
      throw err;
    }
  }

  static open(input: string, options: OpenOptions = {}): Project {
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
    refuseEscapingFolders(root, dbFile);
    const unwritable = readOnlyReason(root, dbFile);
    if (unwritable && !options.readOnly && !options.allowReadOnly) {
      throw new LoupeError(
        'READ_ONLY',
        `${root} is read-only (${unwritable}), so Loupe cannot save changes to it. Copy the project folder ` +
          'somewhere you can write to, or open it in the studio to look at it read-only.',
      );
    }
    let project: Project;
    if (unwritable) {
      const copy = readOnlyCopy(dbFile);
      try {
        project = new Project(root, openDatabase(copy.file, { readOnly: true }), unwritable);
      } catch (err) {
        copy.dispose();
        if (err instanceof LoupeError) throw new LoupeError(err.code, err.message.replaceAll(copy.file, dbFile));
        throw err;
      }
      project.#dispose = copy.dispose;
    } else {
      const readOnly = options.readOnly ?? false;
      project = new Project(root, openDatabase(dbFile, { readOnly }), readOnly ? 'it was opened read-only' : null);
    }
    if (!project.readOnly) {
      // Folders can go missing when a project is copied by hand; recreate the empty ones.
      for (const dir of PROJECT_DIRS) fs.mkdirSync(path.join(root, dir), { recursive: true });
      recoverAfterCrash(project.db);
      sweepModelTemps(project.paths.models);
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
    this.#dispose?.();
  }
}
