// What the window shows about imports into the open project: the running import's progress,
// the last report, imports that can be resumed, and files a browser upload refused.

import { num } from '../../../shared/format';
import type { ImportReport, ImportSkip, JobInfo, JobProgress, PendingImport } from '../../../shared/types';
import { api, errorMessage } from './client';
import { trackJob } from './job-tracker.svelte';
import { onLeaveProject } from './project-scope';
import { toasts } from './toasts.svelte';
import { importFiles, type PickedFile } from './upload';

class ImportState {
  readonly #job = trackJob('import', {
    // A new import: the last one's report is history, not what this one is doing.
    onProgress: (_, fresh) => {
      if (fresh) this.report = null;
    },
    onFinished: (job) => this.#finished(job),
  });
  /** Browser mode: files sent so far before the import starts. */
  uploading = $state<{ done: number; total: number } | null>(null);
  report = $state<ImportReport | null>(null);
  refused = $state<ImportSkip[]>([]);
  pending = $state<PendingImport[]>([]);
  /** An import asked for whose first progress has not come yet. */
  starting = $state(false);

  constructor() {
    onLeaveProject(() => this.reset());
  }

  /** The running import job, as last reported. */
  get progress(): JobProgress<'import'> | null {
    return this.#job.job;
  }

  #finished(job: JobInfo<'import'>): void {
    if (job.result) {
      const r = (this.report = job.result);
      toasts.show(`Import ${r.status}: ${num(r.imported)} imported, ${num(r.duplicates)} duplicates, ${num(r.skippedTotal)} skipped.`);
    } else if (job.error) toasts.show(job.error.message, 'error');
    void this.refreshPending();
  }

  get running(): boolean {
    return this.progress !== null || this.uploading !== null || this.starting;
  }

  /** Starts an import: what the dialog shows from now on is this one, not the last report. */
  async #start(work: () => Promise<unknown>): Promise<void> {
    this.report = null;
    this.starting = true;
    try {
      await work();
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    } finally {
      this.starting = false;
    }
  }

  async refreshPending(): Promise<void> {
    try {
      this.pending = await api.pendingImports();
    } catch {
      this.pending = [];
    }
  }

  /** Imports dropped or picked files (uploads them first in a browser). */
  async importFiles(files: PickedFile[]): Promise<void> {
    if (files.length === 0) return;
    this.refused = [];
    this.uploading = window.loupe ? null : { done: 0, total: files.length };
    await this.#start(async () => {
      try {
        const { started, refused } = await importFiles(api, files, window.loupe, (done, total) => (this.uploading = { done, total }));
        this.refused = refused;
        if (!started && refused.length > 0) toasts.show('Nothing could be uploaded.', 'error');
      } finally {
        this.uploading = null;
      }
    });
  }

  async importPaths(paths: string[]): Promise<void> {
    if (paths.length === 0) return;
    this.refused = [];
    await this.#start(() => api.importPaths({ paths }));
  }

  async cancel(): Promise<void> {
    await this.#job.cancel();
  }

  async resume(importId: number): Promise<void> {
    await this.#start(() => api.resumeImport({ importId }));
  }

  async discard(importId: number): Promise<void> {
    try {
      await api.discardImport({ importId });
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
    await this.refreshPending();
  }

  reset(): void {
    this.#job.reset();
    this.uploading = null;
    this.starting = false;
    this.report = null;
    this.refused = [];
    this.pending = [];
  }
}

export const imports = new ImportState();
