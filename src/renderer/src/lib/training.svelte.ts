// What the Train view knows about the open project: the one-click plan (with any Advanced
// overrides), the backends, the running training job with its live curves, the run history
// and the run being looked at. Every change goes through the API; this only mirrors the core.

import { LoupeError } from '../../../shared/errors';
import { percent } from '../../../shared/format';
import type {
  BackendInfo,
  JobInfo,
  JobProgress,
  RunDetails,
  RunSummary,
  TrainOverrides,
  TrainPlan,
} from '../../../shared/types';
import { api, errorMessage } from './client';
import { trackJob } from './job-tracker.svelte';
import { onLeaveProject } from './project-scope';
import { toasts } from './toasts.svelte';

const PLAN_DEBOUNCE_MS = 250;

/** The run a panel shows: the running job live, or a recorded run. */
export type RunView = { kind: 'live' } | { kind: 'run'; runId: number } | null;

class TrainingState {
  plan = $state<TrainPlan | null>(null);
  /** Why the plan could not be made (invalid overrides, no project); null when it could. */
  planError = $state<string | null>(null);
  planning = $state(false);
  backends = $state<BackendInfo[]>([]);
  /** The Advanced settings that differ from one click's choices. */
  overrides = $state<TrainOverrides>({});
  /** Advanced fields holding a value that cannot be used (out of range, not a number). */
  invalidFields = $state<string[]>([]);
  readonly #job = trackJob('train', {
    onProgress: () => {
      if (this.view === null) this.view = { kind: 'live' };
    },
    // Only the training this window follows (or any, when it follows none).
    onFinished: (job, followed) => {
      if (followed) this.#finished(job);
    },
  });
  starting = $state(false);
  runs = $state<RunSummary[]>([]);
  view = $state<RunView>(null);
  /** The recorded run being looked at (view.kind === 'run'), once loaded. */
  details = $state<RunDetails | null>(null);

  /** The live curves of the running job (absent while its images are being prepared). */
  readonly live = $derived(this.job?.detail ?? null);
  readonly running = $derived(this.job !== null || this.starting);
  readonly blocker = $derived(this.plan?.blocker ?? null);
  readonly canStart = $derived(
    this.plan !== null && this.planError === null && this.blocker === null && this.invalidFields.length === 0 && !this.running && !this.planning,
  );

  #projectPath: string | null = null;
  #planTimer: ReturnType<typeof setTimeout> | undefined;
  #planSeq = 0;
  #detailsSeq = 0;

  constructor() {
    onLeaveProject(() => this.reset());
    api.on('onRunsChanged', () => void this.refreshRuns());
  }

  /** The running train job, as last reported. */
  get job(): JobProgress<'train'> | null {
    return this.#job.job;
  }

  get cancelling(): boolean {
    return this.#job.cancelling;
  }

  /** Loads everything for the project the view shows; another project starts from scratch. */
  async load(projectPath: string): Promise<void> {
    if (projectPath !== this.#projectPath) this.reset();
    this.#projectPath = projectPath;
    await this.#loadSettings();
    await Promise.all([this.refreshPlan(), this.#loadBackends(), this.refreshRuns(), this.#reattach()]);
  }

  /** The Advanced settings kept with the project (another window may have changed them). */
  async #loadSettings(): Promise<void> {
    try {
      this.overrides = await api.trainSettings();
    } catch {
      // No project (closed meanwhile): nothing to show.
    }
  }

  /** Plans again once the overrides or the data have stopped changing for a moment. */
  schedulePlan(): void {
    clearTimeout(this.#planTimer);
    this.planning = true;
    this.#planTimer = setTimeout(() => void this.refreshPlan(), PLAN_DEBOUNCE_MS);
  }

  async refreshPlan(): Promise<void> {
    clearTimeout(this.#planTimer);
    const seq = ++this.#planSeq;
    this.planning = true;
    try {
      const plan = await api.trainPlan({ overrides: $state.snapshot(this.overrides) as TrainOverrides });
      if (seq !== this.#planSeq) return;
      this.plan = plan;
      this.planError = null;
    } catch (err) {
      if (seq !== this.#planSeq) return;
      this.planError = errorMessage(err);
    } finally {
      if (seq === this.#planSeq) this.planning = false;
    }
  }

  /** Replaces the Advanced overrides (undefined fields follow the plan again). */
  setOverrides(next: TrainOverrides): void {
    const clean = Object.fromEntries(Object.entries(next).filter(([, v]) => v !== undefined)) as TrainOverrides;
    this.overrides = clean;
    this.schedulePlan();
    // Kept with the project at once, so a reload or another window shows them too.
    api.saveTrainSettings({ overrides: clean }).catch((err: unknown) => {
      if (!(err instanceof LoupeError && err.code === 'READ_ONLY')) toasts.show(errorMessage(err), 'error');
    });
  }

  setInvalid(field: string, invalid: boolean): void {
    const others = this.invalidFields.filter((f) => f !== field);
    this.invalidFields = invalid ? [...others, field] : others;
  }

  resetOverrides(): void {
    this.invalidFields = [];
    this.setOverrides({});
  }

  async refreshRuns(): Promise<void> {
    if (!this.#projectPath) return;
    try {
      this.runs = await api.listRuns();
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
  }

  async start(): Promise<void> {
    if (!this.canStart) return;
    this.starting = true;
    this.view = { kind: 'live' };
    this.details = null;
    try {
      await api.startTraining({ overrides: $state.snapshot(this.overrides) as TrainOverrides });
    } catch (err) {
      if (!(err instanceof LoupeError && err.code === 'CANCELLED')) toasts.show(errorMessage(err), 'error');
      if (this.job === null && this.view?.kind === 'live') this.view = null;
    } finally {
      this.starting = false;
    }
  }

  async cancel(): Promise<void> {
    await this.#job.cancel();
  }

  /** Shows a recorded run: its curves, its settings and its data. */
  async showRun(runId: number): Promise<void> {
    const seq = ++this.#detailsSeq;
    this.view = { kind: 'run', runId };
    if (this.details?.id !== runId) this.details = null;
    try {
      const details = await api.runDetails({ runId });
      if (seq === this.#detailsSeq) this.details = details;
    } catch (err) {
      if (seq === this.#detailsSeq) toasts.show(errorMessage(err), 'error');
    }
  }

  showLive(): void {
    this.#detailsSeq++;
    this.view = this.job ? { kind: 'live' } : null;
    this.details = null;
  }

  async #loadBackends(): Promise<void> {
    try {
      this.backends = await api.trainingBackends();
    } catch {
      this.backends = [];
    }
  }

  /** After a reload (or in a second window) a training that is already running shows up live. */
  async #reattach(): Promise<void> {
    if (await this.#job.attach()) this.view = { kind: 'live' };
  }

  #finished(job: JobInfo<'train'>): void {
    const result = job.result;
    // A run that fails before it starts is reported by start(), which is still waiting for it.
    if (job.status === 'failed' && job.error) {
      if (!this.starting) toasts.show(job.error.message, 'error');
    } else if (result) {
      const scores = result.status === 'completed' ? `: validation ${percent(result.valAccuracy)}, test ${percent(result.testAccuracy)}` : '';
      toasts.show(`Run #${result.runId} ${result.status}${scores}.`);
    }
    void this.refreshRuns();
    if (result && this.view?.kind === 'live') void this.showRun(result.runId);
    else if (this.view?.kind === 'live') this.view = null;
  }

  reset(): void {
    clearTimeout(this.#planTimer);
    this.#planSeq++;
    this.#detailsSeq++;
    this.#projectPath = null;
    this.plan = null;
    this.planError = null;
    this.planning = false;
    this.backends = [];
    this.overrides = {};
    this.invalidFields = [];
    this.#job.reset();
    this.starting = false;
    this.runs = [];
    this.view = null;
    this.details = null;
  }
}

export const training = new TrainingState();
