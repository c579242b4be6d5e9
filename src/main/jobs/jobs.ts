// Long work as jobs: one registry per process. A job reports progress (throttled, with rate
// and ETA), takes an AbortSignal, and ends with a result or an error. Progress and the end go
// to every window that has the job's project open. A job of kind K can only end with
// `JobResults[K]` and report `JobDetails[K]`: `start` checks that when the work is written.

import { randomUUID } from 'node:crypto';
import type { ErrorPayload } from '../../shared/errors';
import { LoupeError } from '../../shared/errors';
import type { JobDetail, JobInfo, JobInfoOf, JobKind, JobProgress, JobProgressOf, JobResults } from '../../shared/types';
import { ProgressMeter, systemClock, throttle, type Clock } from './progress';

export interface JobReporter<K extends JobKind = JobKind> {
  /** Items done so far (and the total, when it becomes known or changes). */
  progress(done: number, total?: number | null, phase?: string, detail?: JobDetail<K>): void;
  /** Seconds the current step is expected to take in all (e.g. the plan's estimate), until it has measured its own speed. */
  expect(seconds: number | null): void;
  readonly signal: AbortSignal;
}

/** The work of a job of kind K: it ends with that kind's result. */
export type JobWork<K extends JobKind> = (reporter: JobReporter<K>) => Promise<JobResults[K]>;

export interface JobSink {
  progress(info: JobProgress): void;
  finished(info: JobInfo): void;
}

const FINISHED_KEPT = 50;

export function cancelledError(): LoupeError {
  return new LoupeError('CANCELLED', 'Cancelled.');
}

/** Throws CANCELLED if the signal has fired; long loops call this between items. */
export function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw cancelledError();
}

interface Entry {
  info: JobInfoOf<JobKind>;
  /**
   * While the job runs: how to cancel it and when it ends. Dropped once it has ended, so a kept
   * finished job is its info alone, not whatever its work left listening on the signal.
   */
  running: { controller: AbortController; promise: Promise<unknown> } | null;
}

export class Jobs {
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly toError: (err: unknown) => ErrorPayload,
    private readonly clock: Clock = systemClock,
    private readonly progressIntervalMs = 100,
  ) {}

  /**
   * Starts `work` and returns its job id at once. `exclusive` refuses a second running job of
   * the same kind on the same project (two imports into one project at once make no sense).
   */
  start<K extends JobKind>(
    kind: K,
    projectPath: string,
    sink: JobSink,
    work: JobWork<K>,
    options: { exclusive?: boolean; phase?: string } = {},
  ): { jobId: string; promise: Promise<JobResults[K]> } {
    if (options.exclusive) {
      for (const e of this.#entries.values()) {
        if (e.info.kind === kind && e.info.projectPath === projectPath && e.info.status === 'running') {
          throw new LoupeError('BUSY', `A${kind === 'import' ? 'n' : ''} ${kind} job is already running on this project.`);
        }
      }
    }
    const jobId = randomUUID();
    const controller = new AbortController();
    const info: JobInfoOf<K> = {
      jobId,
      kind,
      projectPath,
      phase: options.phase ?? 'Starting',
      done: 0,
      total: null,
      ratePerSecond: null,
      etaSeconds: null,
      status: 'running',
      startedAt: Date.now(),
      finishedAt: null,
      error: null,
      result: null,
    };
    const meter = new ProgressMeter(this.clock);
    const emit = throttle<JobProgress>((p) => sink.progress(p), this.progressIntervalMs, this.clock);
    const reporter: JobReporter<K> = {
      signal: controller.signal,
      progress(done, total, phase, detail) {
        if (total !== undefined) info.total = total;
        if (phase !== undefined) info.phase = phase;
        info.done = done;
        Object.assign(info, meter.update(done, info.total));
        info.detail = detail;
        emit.push(progressOf(info));
      },
      expect(seconds) {
        meter.expect(seconds);
        // The time left is known now, before the step's first item.
        Object.assign(info, meter.update(info.done, info.total));
        emit.push(progressOf(info));
      },
    };
    const entry: Entry = { info, running: null };
    this.#entries.set(jobId, entry);
    const promise = (async () => {
      try {
        const result = await work(reporter);
        info.result = result ?? null;
        info.status = controller.signal.aborted ? 'cancelled' : 'completed';
        return result;
      } catch (err) {
        const payload = this.toError(err);
        info.status = payload.code === 'CANCELLED' ? 'cancelled' : 'failed';
        info.error = payload;
        throw err;
      } finally {
        info.finishedAt = Date.now();
        emit.flush();
        sink.finished(published(info));
        entry.running = null;
        this.#prune();
      }
    })();
    promise.catch(() => {}); // the caller may not await; the sink has the outcome
    // (Work that throws at once has already finished here.)
    if (info.finishedAt === null) entry.running = { controller, promise };
    return { jobId, promise };
  }

  cancel(jobId: string): void {
    const entry = this.#entries.get(jobId);
    if (!entry) throw new LoupeError('NOT_FOUND', 'No such job.');
    entry.running?.controller.abort();
  }

  list(projectPath: string): JobInfo[] {
    return [...this.#entries.values()].filter((e) => e.info.projectPath === projectPath).map((e) => published(e.info));
  }

  /** The jobs still running, of one project or of all. */
  running(projectPath?: string): JobInfo[] {
    return [...this.#entries.values()]
      .filter((e) => e.info.status === 'running' && (projectPath === undefined || e.info.projectPath === projectPath))
      .map((e) => published(e.info));
  }

  /** Cancels every running job of a project and waits for them to stop (on close). */
  async cancelAll(projectPath?: string): Promise<void> {
    const running = [...this.#entries.values()]
      .filter((e) => projectPath === undefined || e.info.projectPath === projectPath)
      .flatMap((e) => (e.running ? [e.running] : []));
    for (const r of running) r.controller.abort();
    await Promise.allSettled(running.map((r) => r.promise));
  }

  #prune(): void {
    const finished = [...this.#entries.values()].filter((e) => e.info.status !== 'running');
    for (const e of finished.slice(0, Math.max(0, finished.length - FINISHED_KEPT))) this.#entries.delete(e.info.jobId);
  }
}

/**
 * A copy of a job's info as the union the API speaks. `start<K>` paired each entry's kind with
 * its result and detail; TypeScript cannot follow that pairing through the registry's one map.
 */
function published(info: JobInfoOf<JobKind>): JobInfo {
  return { ...info } as JobInfo;
}

function progressOf(info: JobInfoOf<JobKind>): JobProgress {
  const { jobId, kind, projectPath, phase, done, total, ratePerSecond, etaSeconds, detail } = info;
  const progress: JobProgressOf<JobKind> = { jobId, kind, projectPath, phase, done, total, ratePerSecond, etaSeconds, detail };
  return progress as JobProgress;
}
