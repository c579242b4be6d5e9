// The schema's history, one file per version. Each migration runs inside the transaction that
// also sets `user_version`, so a database is always at exactly one version.

import type { Database } from 'better-sqlite3';
import * as v1 from './001-initial';
import * as v2 from './002-import';
import * as v3 from './003-evaluation';
import * as v4 from './004-label-provenance';
import * as v5 from './005-run-kept-epoch';
import * as v6 from './006-doctor';
import * as v7 from './007-map';

export interface Migration {
  version: number;
  name: string;
  up(db: Database): void;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial', up: v1.up },
  { version: 2, name: 'import', up: v2.up },
  { version: 3, name: 'evaluation', up: v3.up },
  { version: 4, name: 'label-provenance', up: v4.up },
  { version: 5, name: 'run kept epoch', up: v5.up },
  { version: 6, name: 'doctor', up: v6.up },
  { version: 7, name: 'map', up: v7.up },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

// Fail at load time if someone breaks the ordering: versions must start at 1 and increase by 1.
MIGRATIONS.forEach((m, i) => {
  if (m.version !== i + 1) throw new Error(`Migration ${m.name} has version ${m.version}, expected ${i + 1}`);
});
