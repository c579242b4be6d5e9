// Opening and creating project databases. A database is checked from its raw header before
// SQLite touches it, so a foreign file or one written by a newer Loupe is refused untouched.
// An open project holds SQLite's exclusive lock for its whole life: a second process that tries
// to open it is refused at once, and the operating system releases the lock if we crash.
//
// A project folder may come from anywhere (a download, a colleague's zip), so its database is
// untrusted input: SQLite's defensive settings are on before anything is read, and a database
// whose schema holds triggers or views (Loupe creates neither; they are how a crafted file runs
// SQL of its own when Loupe writes or reads) is refused before Loupe writes a byte to it.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import { LoupeError } from '../../shared/errors';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations';

export type DB = Database.Database;

/** `PRAGMA application_id` of every Loupe project database: 'LOUP'. */
export const APPLICATION_ID = 0x4c4f5550;
const SQLITE_MAGIC = 'SQLite format 3\0';

interface Header {
  userVersion: number;
  applicationId: number;
}

/** Reads the 100-byte SQLite header without opening the file as a database. */
export function readHeader(file: string): Header | null {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(100);
    const n = fs.readSync(fd, buf, 0, 100, 0);
    if (n < 100 || buf.toString('latin1', 0, 16) !== SQLITE_MAGIC) return null;
    return { userVersion: buf.readUInt32BE(60), applicationId: buf.readUInt32BE(68) };
  } finally {
    fs.closeSync(fd);
  }
}

function checkHeader(file: string, header: Header | null): void {
  if (!header) {
    throw new LoupeError('NOT_A_PROJECT', `${file} is not a Loupe project database (not SQLite).`);
  }
  if (header.applicationId !== APPLICATION_ID) {
    throw new LoupeError('NOT_A_PROJECT', `${file} is an SQLite database, but not a Loupe project.`);
  }
  if (header.userVersion > SCHEMA_VERSION) {
    throw new LoupeError(
      'FUTURE_VERSION',
      `${file} was written by a newer version of Loupe (schema ${header.userVersion}; this ` +
        `version reads up to ${SCHEMA_VERSION}). Update Loupe to open it; the file was not changed.`,
    );
  }
}

/**
 * Native binding override: under Electron, better-sqlite3 must be the build made for
 * Electron's ABI (see scripts/electron-native.js); under Node, the default one.
 */
let nativeBinding: string | undefined;
export function setSqliteNativeBinding(file: string | undefined): void {
  nativeBinding = file;
}

interface OpenOptions {
  create: boolean;
  readOnly?: boolean;
}

function connect(file: string, { create, readOnly = false }: OpenOptions): DB {
  try {
    return new Database(file, { fileMustExist: !create, readonly: readOnly, timeout: 0, nativeBinding });
  } catch (err) {
    throw asLockError(err, file) ?? err;
  }
}

function asLockError(err: unknown, file: string): LoupeError | null {
  const code = (err as { code?: string }).code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new LoupeError(
      'PROJECT_LOCKED',
      `${file} is open in another Loupe window or process. Close it there first.`,
    );
  }
  return null;
}

/** Connection settings every project database gets, before anything else runs on it. */
function configure(db: DB, file: string, readOnly: boolean): void {
  // SQLite's advice for database files from elsewhere (sqlite.org/security.html): the defensive
  // flag (no writable_schema tricks; better-sqlite3 sets it, this says so), no SQL functions with
  // side effects from the schema, corrupt b-tree cells detected, no memory-mapped reads.
  db.unsafeMode(false);
  db.pragma('trusted_schema = OFF');
  db.pragma('cell_size_check = ON');
  db.pragma('mmap_size = 0');
  // Before anything below writes to the file.
  refuseActiveSchema(db, file);
  db.pragma('foreign_keys = ON');
  if (readOnly) return;
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('journal_mode = WAL');
  // What the UI shows as saved must survive a power cut: sync the WAL on every commit.
  db.pragma('synchronous = FULL');
  // Take the exclusive lock now rather than at the first write.
  db.exec('BEGIN IMMEDIATE; COMMIT');
}

/**
 * Refuses a database whose schema holds anything that runs SQL by itself: a trigger fires on
 * the writes Loupe makes (opening a project marks interrupted runs, for one), and a view can
 * stand in for a table. Only reads the schema table, which fires nothing.
 */
export function refuseActiveSchema(db: DB, file: string): void {
  const rows = db
    .prepare("SELECT type, name FROM sqlite_schema WHERE type IN ('trigger', 'view') ORDER BY type, name")
    .all() as { type: string; name: string }[];
  if (rows.length === 0) return;
  const list = rows
    .slice(0, 5)
    .map((r) => `${r.type} ${JSON.stringify(r.name.slice(0, 60))}`)
    .join(', ');
  throw new LoupeError(
    'NOT_A_PROJECT',
    `${file} holds SQL that runs by itself (${list}${rows.length > 5 ? ', …' : ''}), which Loupe never ` +
      'creates: the file may have been crafted. Loupe did not open it and did not change it.',
  );
}

/** Runs pending migrations in one transaction that also sets `user_version`. */
export function migrate(db: DB): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new LoupeError('FUTURE_VERSION', `Database schema ${current} is newer than this Loupe.`);
  }
  if (current === SCHEMA_VERSION) return;
  db.transaction(() => {
    for (const m of MIGRATIONS) if (m.version > current) m.up(db);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

export function createDatabase(file: string): DB {
  if (fs.existsSync(file)) throw new LoupeError('ALREADY_EXISTS', `${file} already exists.`);
  const db = connect(file, { create: true });
  try {
    db.pragma(`application_id = ${APPLICATION_ID}`);
    configure(db, file, false);
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

export function openDatabase(file: string, options: { readOnly?: boolean } = {}): DB {
  const readOnly = options.readOnly ?? false;
  checkHeader(file, readHeader(file));
  const db = connect(file, { create: false, readOnly });
  try {
    configure(db, file, readOnly);
    // The header can be stale while changes sit in the WAL: check again through SQLite.
    const applicationId = db.pragma('application_id', { simple: true }) as number;
    const userVersion = db.pragma('user_version', { simple: true }) as number;
    checkHeader(file, { applicationId, userVersion });
    if (readOnly) {
      if (userVersion !== SCHEMA_VERSION) {
        throw new LoupeError(
          'READ_ONLY',
          `${file} needs an upgrade to schema ${SCHEMA_VERSION}, which a read-only project cannot take.`,
        );
      }
    } else {
      migrate(db);
    }
    return db;
  } catch (err) {
    db.close();
    throw asLockError(err, file) ?? err;
  }
}
