// Import records in the project database: what an import was asked to do, its status, and the
// report built from its items.

import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../../shared/errors';
import { REPORT_LIST_LIMIT, type ImportReport, type ImportStatus, type PendingImport, type Split } from '../../../shared/types';
import type { DB } from '../../store/database';
import type { Project } from '../../store/project';
import { sweepTempFiles, uploadDir, uploadsDir } from './paths';
import { digitFiles, type SampleName } from '../sample';
import type { ScanRoot } from './scan';

export type ImportSource =
  | { kind: 'path'; path: string }
  | { kind: 'upload'; uploadId: string }
  | { kind: 'sample'; sample: SampleName };

interface ImportRow {
  id: number;
  status: ImportStatus;
  sources: string;
  total: number | null;
  created_classes: string;
  seconds: number;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export const PENDING_STATUSES: readonly ImportStatus[] = ['interrupted', 'cancelled', 'failed'];

export function createImport(db: DB, sources: readonly ImportSource[], now = Date.now()): number {
  const info = db
    .prepare("INSERT INTO imports (status, sources, created_at, updated_at) VALUES ('running', ?, ?, ?)")
    .run(JSON.stringify(sources), now, now);
  return Number(info.lastInsertRowid);
}

/** An import that never started (its job was refused) goes again. */
export function deleteImport(db: DB, importId: number): void {
  db.prepare('DELETE FROM imports WHERE id = ?').run(importId);
}

export function loadImport(db: DB, importId: number): ImportRow & { parsedSources: ImportSource[] } {
  const row = db.prepare('SELECT * FROM imports WHERE id = ?').get(importId) as ImportRow | undefined;
  if (!row) throw new LoupeError('NOT_FOUND', `There is no import #${importId} in this project.`);
  return { ...row, parsedSources: JSON.parse(row.sources) as ImportSource[] };
}

export function sourceLabel(source: ImportSource): string {
  if (source.kind === 'path') return source.path;
  if (source.kind === 'upload') return `Dropped files (upload ${source.uploadId.slice(0, 8)})`;
  return 'Sample: handwritten digits (MNIST)';
}

/** A folder inside the project that holds a source's files while it is imported. */
export function stagingDir(project: Project, source: ImportSource): string | null {
  return source.kind === 'upload' ? uploadDir(project.root, source.uploadId) : null;
}

/**
 * Where to scan for each source. Uploads are shown relative to their folder, and each item
 * dropped (a folder or a file at the top of an upload) is a source of its own, as when the
 * desktop window passes the paths of dropped items. A sample's files are made in memory.
 */
export function scanRoots(project: Project, sources: readonly ImportSource[]): ScanRoot[] {
  return sources.flatMap((s): ScanRoot[] => {
    if (s.kind === 'path') {
      const inside = !path.relative(project.root, s.path).startsWith('..') && path.isAbsolute(s.path);
      return [inside ? { path: s.path, refuse: 'This is the project folder itself, or inside it.' } : { path: s.path }];
    }
    if (s.kind === 'sample') return [{ path: `sample:${s.sample}`, files: digitFiles() }];
    const dir = stagingDir(project, s)!;
    let names: string[];
    try {
      names = fs.readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
    } catch {
      return [{ path: dir, base: dir }]; // gone: the scan reports it
    }
    return names.map((n) => ({ path: path.join(dir, n), base: dir }));
  });
}

/** The source paths an earlier run of this import already accounted for. */
export function doneItemPaths(db: DB, importId: number): string[] {
  return db.prepare('SELECT path FROM import_items WHERE import_id = ?').pluck().all(importId) as string[];
}

export function setTotal(db: DB, importId: number, total: number): void {
  db.prepare('UPDATE imports SET total = ? WHERE id = ?').run(total, importId);
}

/** Every image hash in the project, removed images included. */
export function allImageHashes(db: DB): string[] {
  return db.prepare('SELECT hash FROM images').pluck().all() as string[];
}

export function classNames(db: DB): string[] {
  return (db.prepare('SELECT name FROM classes').all() as { name: string }[]).map((r) => r.name);
}

/** The statements a committer runs per file, prepared once per run. */
export function commitStatements(db: DB) {
  return {
    find: db.prepare('SELECT id FROM images WHERE hash = ?').pluck(),
    image: db.prepare(
      `INSERT INTO images (hash, ext, format, width, height, channels, bytes, original_name, source_path,
                           split, split_source, added_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    label: db.prepare("INSERT INTO labels (image_id, class_id, source, updated_at) VALUES (?, ?, 'import', ?)"),
    item: db.prepare('INSERT OR IGNORE INTO import_items (import_id, path, outcome, image_id, reason) VALUES (?, ?, ?, ?, ?)'),
    touch: db.prepare('UPDATE imports SET updated_at = ?, created_classes = ? WHERE id = ?'),
  };
}

export function setStatus(db: DB, importId: number, status: ImportStatus, extra: { seconds?: number; error?: string | null } = {}): void {
  const now = Date.now();
  db.prepare(
    `UPDATE imports SET status = ?, updated_at = ?, seconds = seconds + ?, error = ?,
            finished_at = CASE WHEN ? IN ('completed', 'discarded') THEN ? ELSE finished_at END
      WHERE id = ?`,
  ).run(status, now, extra.seconds ?? 0, extra.error ?? null, status, now, importId);
}

export function importReport(db: DB, importId: number): ImportReport {
  const row = loadImport(db, importId);
  const counts = { imported: 0, duplicate: 0, skipped: 0 };
  for (const r of db
    .prepare('SELECT outcome, count(*) AS n FROM import_items WHERE import_id = ? GROUP BY outcome')
    .all(importId) as { outcome: keyof typeof counts; n: number }[]) {
    counts[r.outcome] = r.n;
  }
  const splits: Record<Split, number> = { train: 0, val: 0, test: 0 };
  for (const r of db
    .prepare(
      `SELECT i.split, count(*) AS n FROM import_items it JOIN images i ON i.id = it.image_id
        WHERE it.import_id = ? AND it.outcome = 'imported' GROUP BY i.split`,
    )
    .all(importId) as { split: Split; n: number }[]) {
    splits[r.split] = r.n;
  }
  const skipped = db
    .prepare("SELECT path, reason FROM import_items WHERE import_id = ? AND outcome = 'skipped' ORDER BY path LIMIT ?")
    .all(importId, REPORT_LIST_LIMIT) as { path: string; reason: string }[];
  const duplicateFiles = db
    .prepare(
      `SELECT it.path AS path, coalesce(i.source_path, i.original_name, '') AS existing
         FROM import_items it LEFT JOIN images i ON i.id = it.image_id
        WHERE it.import_id = ? AND it.outcome = 'duplicate' ORDER BY it.path LIMIT ?`,
    )
    .all(importId, REPORT_LIST_LIMIT) as { path: string; existing: string }[];
  const done = counts.imported + counts.duplicate + counts.skipped;
  return {
    importId,
    status: row.status,
    sources: row.parsedSources.map(sourceLabel),
    total: row.total ?? done,
    imported: counts.imported,
    duplicates: counts.duplicate,
    skippedTotal: counts.skipped,
    skipped,
    duplicateFiles,
    createdClasses: JSON.parse(row.created_classes) as string[],
    splits,
    seconds: row.seconds,
    imagesPerSecond: row.seconds > 0 ? done / row.seconds : null,
  };
}

export function pendingImports(db: DB): PendingImport[] {
  const rows = db
    .prepare(
      `SELECT m.*, (SELECT count(*) FROM import_items it WHERE it.import_id = m.id) AS done
         FROM imports m WHERE m.status IN ('interrupted', 'cancelled', 'failed') ORDER BY m.id`,
    )
    .all() as (ImportRow & { done: number })[];
  return rows.map((r) => ({
    importId: r.id,
    status: r.status,
    sources: (JSON.parse(r.sources) as ImportSource[]).map(sourceLabel),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    done: r.done,
    total: r.total,
    error: r.error,
  }));
}

/** A pending import of exactly these sources, to resume instead of starting over. */
export function findResumable(db: DB, sources: readonly ImportSource[]): number | null {
  const wanted = JSON.stringify(sources);
  const row = db
    .prepare("SELECT id FROM imports WHERE status IN ('interrupted', 'cancelled', 'failed') AND sources = ? ORDER BY id DESC LIMIT 1")
    .get(wanted) as { id: number } | undefined;
  return row?.id ?? null;
}

export function requirePending(db: DB, importId: number): void {
  const row = loadImport(db, importId);
  if (row.status === 'running') throw new LoupeError('BUSY', `Import #${importId} is running.`);
  if (!PENDING_STATUSES.includes(row.status)) {
    throw new LoupeError('INVALID_INPUT', `Import #${importId} is ${row.status}; there is nothing to resume.`);
  }
}

/** Gives up a pending import: what it imported stays; its uploaded files are deleted. */
export function discardImport(project: Project, importId: number): void {
  requirePending(project.db, importId);
  const row = loadImport(project.db, importId);
  setStatus(project.db, importId, 'discarded');
  removeStaged(project, row.parsedSources);
}

export function removeStaged(project: Project, sources: readonly ImportSource[]): void {
  for (const s of sources) {
    const dir = stagingDir(project, s);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Tidies up after a process that died mid-import (call when a project is opened, and before an
 * import): an import still marked running cannot be (the project is locked to this process), so
 * it becomes interrupted, and the temp files its workers were writing are deleted.
 */
export function recoverImports(project: Project, except: number | null = null): void {
  if (project.readOnly) return;
  const stale = project.db
    .prepare("UPDATE imports SET status = 'interrupted', updated_at = ? WHERE status = 'running' AND id IS NOT ?")
    .run(Date.now(), except).changes;
  if (stale > 0) sweepTempFiles(project.root);
}

/** Deletes staged uploads that neither an open upload nor a pending import needs. */
export function pruneUploads(project: Project, keep: ReadonlySet<string>): void {
  if (project.readOnly) return;
  let names: string[];
  try {
    names = fs.readdirSync(uploadsDir(project.root));
  } catch {
    return;
  }
  const needed = new Set(keep);
  for (const r of project.db
    .prepare("SELECT sources FROM imports WHERE status IN ('running', 'interrupted', 'cancelled', 'failed')")
    .all() as { sources: string }[]) {
    for (const s of JSON.parse(r.sources) as ImportSource[]) if (s.kind === 'upload') needed.add(s.uploadId);
  }
  for (const name of names) {
    if (!needed.has(name)) fs.rmSync(path.join(uploadsDir(project.root), name), { recursive: true, force: true });
  }
}
