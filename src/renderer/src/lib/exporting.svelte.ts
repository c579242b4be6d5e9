// What the Export view knows: the runs that can be exported, past exports, and the running
// `export` job with its outcome. Every change goes through the API; this only mirrors the core.

import { percent } from '../../../shared/format';
import { LoupeError } from '../../../shared/errors';
import type { ExportFormat, ExportInfo, ExportResult, JobInfo, JobProgress, RunSummary } from '../../../shared/types';
import { api, errorMessage } from './client';
import { trackJob } from './job-tracker.svelte';
import { onLeaveProject } from './project-scope';
import { toasts } from './toasts.svelte';

export interface ExportForm {
  runId: number;
  format: ExportFormat;
  dir: string;
  /** Empty: Loupe names it after the project and run. */
  name: string;
  zip: boolean;
}

/** "identical top class on 200 test images, max |Δp| 3.1e-7" for people. */
export function parityText(p: ExportInfo['parity']): string {
  if (!p) return 'not checked';
  const top = p.top1Agreement === 1 ? 'same top class on all' : `same top class on ${percent(p.top1Agreement)} of`;
  const diff = Number.isFinite(p.maxAbsDiff) ? p.maxAbsDiff.toExponential(1) : 'NaN';
  return `${p.against === 'onnxruntime' ? 'ONNX' : p.against === 'tflite' ? 'TFLite' : 'TF.js files'} vs TensorFlow.js: ${top} ${p.images} images, max |Δp| ${diff}`;
}

class ExportState {
  runs = $state<RunSummary[]>([]);
  exports = $state<ExportInfo[]>([]);
  readonly #job = trackJob('export', { onFinished: (job) => this.#finished(job) });
  starting = $state(false);
  /** The last export this window started, once it ended. */
  result = $state<ExportResult | null>(null);
  error = $state<string | null>(null);

  readonly running = $derived(this.job !== null || this.starting);
  /** Runs with a saved model, best first. */
  readonly exportable = $derived(this.runs.filter((r) => r.status === 'completed').sort((a, b) => Number(b.best) - Number(a.best) || b.id - a.id));

  #projectPath: string | null = null;
  #mine: string | null = null;
  /** Jobs that ended while start() was still waiting for its answer. */
  #early: JobInfo<'export'>[] = [];

  constructor() {
    onLeaveProject(() => this.reset());
    api.on('onRunsChanged', () => void this.refresh());
  }

  /** The running export job, as last reported. */
  get job(): JobProgress<'export'> | null {
    return this.#job.job;
  }

  get cancelling(): boolean {
    return this.#job.cancelling;
  }

  async load(projectPath: string): Promise<void> {
    if (projectPath !== this.#projectPath) this.reset();
    this.#projectPath = projectPath;
    await this.refresh();
    await this.#job.attach();
  }

  async refresh(): Promise<void> {
    if (!this.#projectPath) return;
    try {
      [this.runs, this.exports] = await Promise.all([api.listRuns(), api.listExports({})]);
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
  }

  async start(form: ExportForm): Promise<void> {
    if (this.running) return;
    this.starting = true;
    this.error = null;
    this.result = null;
    try {
      const started = await api.startExport({
        runId: form.runId,
        format: form.format,
        dir: form.dir,
        name: form.name.trim() === '' ? undefined : form.name.trim(),
        zip: form.zip,
      });
      this.#mine = started.jobId;
      void this.refresh();
    } catch (err) {
      if (!(err instanceof LoupeError && err.code === 'CANCELLED')) this.error = errorMessage(err);
    } finally {
      this.starting = false;
      for (const job of this.#early.splice(0)) this.#finished(job);
    }
  }

  async cancel(): Promise<void> {
    await this.#job.cancel();
  }

  #finished(job: JobInfo<'export'>): void {
    if (this.starting) {
      // Which job is this window's is known once start() has its answer.
      this.#early.push(job);
      return;
    }
    const mine = job.jobId === this.#mine;
    if (job.status === 'completed' && job.result) {
      const result = job.result;
      if (mine) this.result = result;
      toasts.show(`Exported run #${result.runId} to ${result.path}.`);
    } else if (job.status === 'failed' && job.error && mine) {
      this.error = job.error.message;
    } else if (job.status === 'cancelled' && mine) {
      toasts.show('Export cancelled; nothing was written.');
    }
    void this.refresh();
  }

  reset(): void {
    this.#projectPath = null;
    this.#mine = null;
    this.runs = [];
    this.exports = [];
    this.#job.reset();
    this.starting = false;
    this.result = null;
    this.error = null;
  }
}

export const exporting = new ExportState();
