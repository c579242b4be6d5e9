// What a crash can leave behind, put right when a project is opened. An open project is held
// by one process only (the exclusive lock), so anything still marked as in progress belongs to
// a process that is gone.

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
