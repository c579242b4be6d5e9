// One kind of job as a store sees it: the job of that kind running in the open project (from its
// progress events, or found again through `listJobs` after a reload or in a second window), its
// end with the kind's typed result, and cancelling it. Every store that runs a job follows it
// through one of these instead of writing the subscribe/filter/re-attach/cancel steps again.
// Plain TypeScript, so unit tests run it; `job-tracker.svelte.ts` makes its state reactive.

import type { JobInfo, JobKind, JobProgress } from '../../../shared/types';
import type { LoupeClient } from './transport';

/** The part of the client a tracker uses. */
export type JobClient = Pick<LoupeClient, 'on' | 'listJobs' | 'cancelJob'>;

/** Where a tracker keeps what it knows: a plain object here, a `$state` object in the window. */
export interface JobSlot<K extends JobKind> {
  /** The running job of this kind, as last reported; null when none runs. */
  job: JobProgress<K> | null;
  /** A cancel was asked for and the job has not ended yet. */
  cancelling: boolean;
}

export interface JobHandlers<K extends JobKind> {
  /** Each progress report, after `job` holds it; `fresh` when it is of another job than the one followed before. */
  onProgress?(progress: JobProgress<K>, fresh: boolean): void;
  /**
   * A job of this kind ended, with its typed result. `followed`: it is the job this tracker
   * followed, or none was followed; then `job` is already null again.
   */
  onFinished?(job: JobInfo<K>, followed: boolean): void;
  /** Cancelling could not be asked (e.g. the connection dropped); without it, `cancel()` rejects. */
  onCancelFailed?(err: unknown): void;
}

export class JobTracker<K extends JobKind> {
  readonly #client: JobClient;
  readonly #slot: JobSlot<K>;
  readonly #handlers: JobHandlers<K>;
  readonly #stop: (() => void)[];

  constructor(
    client: JobClient,
    readonly kind: K,
    handlers: JobHandlers<K> = {},
    slot: JobSlot<K> = { job: null, cancelling: false },
  ) {
    this.#client = client;
    this.#slot = slot;
    this.#handlers = handlers;
    this.#stop = [
      client.on('onJobProgress', (p) => {
        if (isProgressOf(p, kind)) this.#progress(p);
      }),
      client.on('onJobFinished', (job) => {
        if (isJobOf(job, kind)) this.#finished(job);
      }),
    ];
  }

  /** The running job of this kind, as last reported. */
  get job(): JobProgress<K> | null {
    return this.#slot.job;
  }

  get cancelling(): boolean {
    return this.#slot.cancelling;
  }

  /**
   * Finds a job of this kind already running in the open project (after a reload, a reconnect,
   * or one started in another window) and follows it, unless one is followed already.
   * Returns the job it now follows for the first time, or null.
   */
  async attach(): Promise<JobProgress<K> | null> {
    let jobs: JobInfo[];
    try {
      jobs = await this.#client.listJobs();
    } catch {
      return null; // the project was closed meanwhile: nothing to follow
    }
    const running = jobs.find((j) => j.kind === this.kind && j.status === 'running');
    if (!running || !isJobOf(running, this.kind) || this.#slot.job !== null) return null;
    this.#slot.job = running;
    return running;
  }

  /** Asks the followed job to stop; it ends (cancelled) through the usual finished event. */
  async cancel(): Promise<void> {
    const job = this.#slot.job;
    if (!job) return;
    this.#slot.cancelling = true;
    try {
      await this.#client.cancelJob({ jobId: job.jobId });
    } catch (err) {
      this.#slot.cancelling = false;
      if (!this.#handlers.onCancelFailed) throw err;
      this.#handlers.onCancelFailed(err);
    }
  }

  /** Forgets the followed job (the window left the project). */
  reset(): void {
    this.#slot.job = null;
    this.#slot.cancelling = false;
  }

  /** Stops listening (tests; the window's stores live as long as the page). */
  dispose(): void {
    for (const stop of this.#stop.splice(0)) stop();
  }

  #progress(p: JobProgress<K>): void {
    const fresh = p.jobId !== this.#slot.job?.jobId;
    this.#slot.job = p;
    this.#handlers.onProgress?.(p, fresh);
  }

  #finished(job: JobInfo<K>): void {
    const followed = this.#slot.job === null || this.#slot.job.jobId === job.jobId;
    if (followed) this.reset();
    this.#handlers.onFinished?.(job, followed);
  }
}

/** Narrows a job to its kind, typing its result (TypeScript does not narrow a union on a generic kind). */
export function isJobOf<K extends JobKind>(job: { kind: JobKind }, kind: K): job is JobInfo<K> {
  return job.kind === kind;
}

export function isProgressOf<K extends JobKind>(progress: { kind: JobKind }, kind: K): progress is JobProgress<K> {
  return progress.kind === kind;
}
