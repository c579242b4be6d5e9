// SQL lives in src/main/store and records modules only: a statement written in an API handler, a
// CLI command or a service file fails `npm run lint`, and so does a stale entry in the list of
// files whose SQL is still on its way into a records module.

import { describe, expect, it } from 'vitest';
import sqlInRecords, { isSqlText } from '../../eslint-rules/sql-in-records.js';
import { at, tester } from './rule-tester';


const SELECT = "export const n = (db: any) => db.prepare('SELECT count(*) AS n FROM images').get();";
const ok = (file: string, code: string, options?: unknown[]) => ({ filename: at(file), code, ...(options ? { options } : {}) });
const bad = (file: string, code: string, records: string, count = 1) => ({
  filename: at(file),
  code,
  errors: Array.from({ length: count }, () => ({ messageId: 'sql', data: { records } })),
});

describe('loupe/sql-in-records', () => {
  tester.run('sql-in-records', sqlInRecords, {
    valid: [
      // The homes of SQL.
      ok('src/main/store/project.ts', SELECT),
      ok('src/main/store/migrations/009-example.ts', "export const up = (db: any) => db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY)`);"),
      ok('src/main/services/import/records.ts', SELECT),
      ok('src/main/services/training/records.ts', "export const del = (db: any, id: number) => db.prepare(`DELETE FROM runs WHERE id = ?`).run(id);"),
      ok('src/main/services/records.ts', "export const begin = (db: any) => db.exec('BEGIN IMMEDIATE');"),
      // Capitalised words and regular expressions are not statements.
      ok('src/renderer/src/lib/example.ts', "export const typing = (tag: string) => tag === 'INPUT' || tag === 'SELECT';"),
      ok('src/main/services/import/example.ts', "const ODD = /[\\u0000-\\u001f]/;\nexport const odd = (name: string) => ODD.exec(name) ?? /^x/.exec('xy');"),
      ok('src/main/cli/commands/example.ts', "export const hint = 'Select the images to label, then update the split.';"),
      ok('src/main/api/example.ts', "export const f = (db: any, statements: any) => db.transaction(() => statements.insert.run(1))();"),
      // A file still listed as pending may keep its SQL until it moves.
      ok('src/main/services/labeling.ts', SELECT, [{ pending: ['src/main/services/labeling.ts'] }]),
      // Outside src/ (tests, benches, scripts) SQL is fine.
      ok('test/example.test.ts', SELECT),
    ],
    invalid: [
      bad('src/main/api/import-handlers.ts', SELECT, "the records module of the service it uses (services/<folder>/records.ts)"),
      bad('src/main/cli/commands/evaluate.ts', 'export const q = `\n  SELECT split, count(*) FROM images\n  GROUP BY split`;', "the records module of the service it uses (services/<folder>/records.ts)"),
      bad('src/main/services/labeling.ts', SELECT, 'src/main/services/records.ts'),
      bad('src/main/services/evaluation/suggestions.ts', "export const drop = (db: any, run: number) => db.prepare(`DELETE FROM suggestions WHERE run_id = ${run}`).run();", 'src/main/services/evaluation/records.ts'),
      bad('src/main/services/training/train.ts', "export const tx = (db: any) => { db.exec('BEGIN'); db.exec('COMMIT'); };", 'src/main/services/training/records.ts', 2),
      bad('src/main/services/app-state.ts', "export const wal = (db: any) => db.pragma('journal_mode = WAL');", 'src/main/services/records.ts'),
      bad('src/main/services/history.ts', "export const sql = 'UPDATE labels SET class_id = ? WHERE image_id IN (' + 'ids' + ')';", 'src/main/services/records.ts'),
      bad('src/main/services/export/files.ts', "export const q = (db: any, sql: string) => db.prepare(`${sql}`);", 'src/main/services/export/records.ts'),
      bad('src/shared/example.ts', "export const q = 'WITH recent AS (SELECT 1) SELECT * FROM recent';", "the records module of the service it uses (services/<folder>/records.ts)"),
      bad('src/main/services/import/example.ts', SELECT, 'src/main/services/import/records.ts'),
      // A pending file whose SQL has moved must leave the list.
      {
        filename: at('src/main/services/summary.ts'),
        code: 'export const summary = (records: any) => records.countImages();',
        options: [{ pending: ['src/main/services/summary.ts'] }],
        errors: [{ messageId: 'stale', data: { file: 'src/main/services/summary.ts' } }],
      },
    ],
  });
});

describe('what counts as SQL text', () => {
  it('is a statement keyword in capitals followed by the statement, or a bare transaction word', () => {
    for (const sql of ['SELECT 1', '  INSERT INTO t VALUES (1)', '\n    UPDATE t SET a = 1', 'DELETE FROM t', 'CREATE INDEX i ON t (a)', 'ALTER TABLE t ADD b', 'DROP TABLE t', 'PRAGMA user_version = 3', 'WITH x AS (SELECT 1) SELECT * FROM x', 'REPLACE INTO t VALUES (1)', 'BEGIN', 'BEGIN IMMEDIATE', 'COMMIT;', 'ROLLBACK', 'SAVEPOINT a', 'VACUUM']) {
      expect(isSqlText(sql), sql).toBe(true);
    }
    for (const text of ['SELECT', 'DELETE', 'Select a folder', 'select 1', 'Update available', 'with flipped copies', 'INPUT', '', 'BEGINNER']) {
      expect(isSqlText(text), text).toBe(false);
    }
  });
});
