// What a crash can leave behind, put right when a project is opened. An open project is held
// by one process only (the exclusive lock), so anything still marked as in progress belongs to
// a process that is gone.

import fs from 'node:fs';
import path from 'node:path';
import type { DB } from './database';

export interface Recovered {
  interruptedRuns: number;
  failedExports: number;
}

export function recoverAfterCrash(db: DB, now = Date.now()): Recovered {
  const recovered = db.transaction(() => {
    const interruptedRuns = db
      .prepare(
        `UPDATE runs SET status = 'interrupted', finished_at = ?, owner_pid = NULL,
           error = 'The process training this run stopped before it finished.'
         WHERE status = 'running'`,
      )
      .run(now).changes;
    const cutOff = db.prepare("SELECT id, path FROM exports WHERE status = 'running'").all() as { id: number; path: string }[];
    db.prepare("UPDATE exports SET status = 'failed', error = 'Interrupted before it finished.' WHERE status = 'running'").run();
    return { interruptedRuns, cutOff };
  })();
  for (const e of recovered.cutOff) sweepExportStaging(e.id, e.path);
  return { interruptedRuns: recovered.interruptedRuns, failedExports: recovered.cutOff.length };
}

/** The file exportRun writes first into its hidden staging folder, naming the export it belongs to. */
export const STAGING_MARK = '.loupe-export-staging';

/**
 * Deletes what an export cut off by a crash left beside its destination: the hidden staging
 * folder (`.<name>.partial-<hex>`, which also holds a half-written zip). The destination comes
 * from the project's database, which may be someone else's: only a folder of exactly that name
 * holding the staging mark of this export id is removed; nothing else is touched.
 */
export function sweepExportStaging(exportId: number, destination: string): number {
  if (typeof destination !== 'string' || !path.isAbsolute(destination)) return 0;
  const dir = path.dirname(destination);
  const name = path.basename(destination);
  let removed = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    try {
      if (entry.isDirectory() && entry.name.startsWith(`.${name}.partial-`) && /^[0-9a-f]{8}$/.test(entry.name.slice(name.length + 10))) {
        const mark = JSON.parse(fs.readFileSync(path.join(full, STAGING_MARK), 'utf8')) as { exportId?: unknown };
        if (mark.exportId !== exportId) continue;
        fs.rmSync(full, { recursive: true, force: true });
        removed++;
      }
    } catch {
      // No mark, or not ours: left alone.
    }
  }
  return removed;
}

/** The temp folders of swap.ts beside a model (one being written, or an old one being removed): `<dir>.<what>.tmp-<pid>-<time>`. */
const MODEL_TEMP = /\.tmp-\d+-\d+$/;

/**
 * Deletes half-written models a killed training process left in models/<run>/. Returns how
 * many. Only called with the project's lock held, so no live process is writing them.
 */
export function sweepModelTemps(modelsDir: string): number {
  let removed = 0;
  let runs: fs.Dirent[];
  try {
    runs = fs.readdirSync(modelsDir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const run of runs) {
    if (!run.isDirectory()) continue;
    for (const entry of fs.readdirSync(path.join(modelsDir, run.name))) {
      if (!MODEL_TEMP.test(entry)) continue;
      fs.rmSync(path.join(modelsDir, run.name, entry), { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}
