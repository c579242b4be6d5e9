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
  return db.transaction(() => {
    const interruptedRuns = db
      .prepare(
        `UPDATE runs SET status = 'interrupted', finished_at = ?, owner_pid = NULL,
           error = 'The process training this run stopped before it finished.'
         WHERE status = 'running'`,
      )
      .run(now).changes;
    const failedExports = db
      .prepare("UPDATE exports SET status = 'failed', error = 'Interrupted before it finished.' WHERE status = 'running'")
      .run().changes;
    return { interruptedRuns, failedExports };
  })();
}

/** The temp folders saveModel (training/checkpoint.ts) writes a model into: `<dir>.tmp-<pid>-<time>`. */
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
