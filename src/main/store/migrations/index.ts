// The schema's history, one file per version. Each migration runs inside the transaction that
// also sets `user_version`, so a database is always at exactly one version.

import type { Database } from 'better-sqlite3';
import * as v1 from './001-initial';
import * as v2 from './002-import';
import * as v3 from './003-evaluation';
import * as v5 from './005-run-kept-epoch';

export interface Migration {
  version: number;
  name: string;
  up(db: Database): void;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial', up: v1.up },
  { version: 2, name: 'import', up: v2.up },
  { version: 3, name: 'evaluation', up: v3.up },
  { version: 5, name: 'run kept epoch', up: v5.up },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

// Fail at load time if someone breaks the ordering: versions start at 1 and only increase
// (numbers are handed out ahead, so a branch may hold 5 before 4 is merged).
MIGRATIONS.forEach((m, i) => {
  const previous = i === 0 ? 0 : MIGRATIONS[i - 1].version;
  if (i === 0 ? m.version !== 1 : m.version <= previous) throw new Error(`Migration ${m.name} has version ${m.version}, after ${previous}`);
});
