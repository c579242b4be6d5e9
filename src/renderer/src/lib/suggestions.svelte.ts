// What the Label view knows about model suggestions: the pending suggestion of each unlabeled
// image, the `suggest` job while it runs, the order (import order or least confident first),
// and the confidence above which "Accept all" applies. Accepting goes through the API (undoable).

import { wholePercent, type JobInfo, type JobProgress, type ReviewResult, type RunSummary, type Split } from '../../../shared/types';
import { api, errorMessage } from './client';
import { trackJob } from './job-tracker.svelte';
import { onLeaveProject } from './project-scope';
import { toasts } from './toasts.svelte';

export interface Suggestion {
  classId: number;
  confidence: number;
  split: Split;
}

export type SuggestionOrder = 'import' | 'confidence';

class SuggestionsState {
  /** The completed runs whose model can suggest, and the one chosen (null: the best). */
  runs = $state.raw<RunSummary[]>([]);
  chosenRunId = $state<number | null>(null);
  /** Pending suggestions by image id (unlabeled images only). */
  byImage = $state.raw<Map<number, Suggestion>>(new Map());
  runId = $state<number | null>(null);
  readonly #job = trackJob('suggest', { onFinished: (job) => this.#finished(job) });
  starting = $state(false);
  order = $state<SuggestionOrder>('import');
  /** Bulk accept applies at or above this confidence. */
  threshold = $state(0.9);
  /** Counts the suggest jobs that ended: a gallery ordered by confidence reorders then. */
  generation = $state(0);
  #loaded: string | null = null;
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  readonly count = $derived(this.byImage.size);
  /** Suggestions at or above the threshold per split, compared as the whole percents shown. */
  readonly aboveBySplit = $derived.by(() => {
    const counts: Record<Split, number> = { train: 0, val: 0, test: 0 };
    const min = wholePercent(this.threshold);
    for (const s of this.byImage.values()) if (wholePercent(s.confidence) >= min) counts[s.split] += 1;
    return counts;
  });
  readonly aboveThreshold = $derived(this.aboveBySplit.train + this.aboveBySplit.val + this.aboveBySplit.test);

  constructor() {
    onLeaveProject(() => this.reset());
    api.on('onRunsChanged', () => void this.#loadRuns());
  }

  /** The running `suggest` job, as last reported. */
  get job(): JobProgress<'suggest'> | null {
    return this.#job.job;
  }

  async #loadRuns(): Promise<void> {
    if (!this.#loaded) return;
    try {
      this.runs = (await api.listRuns()).filter((r) => r.status === 'completed');
      if (this.chosenRunId !== null && !this.runs.some((r) => r.id === this.chosenRunId)) this.chosenRunId = null;
    } catch {
      this.runs = [];
    }
  }

  async load(projectPath: string): Promise<void> {
    if (this.#loaded !== projectPath) this.reset();
    this.#loaded = projectPath;
    await Promise.all([this.refresh(), this.#loadRuns()]);
    await this.#job.attach();
  }

  reset(): void {
    clearTimeout(this.#timer);
    this.#seq++;
    this.#loaded = null;
    this.byImage = new Map();
    this.runId = null;
    this.#job.reset();
    this.starting = false;
    this.order = 'import';
    this.runs = [];
    this.chosenRunId = null;
  }

  /** Refreshes once labeling has paused for a moment (a keystroke must not refetch the list). */
  refreshSoon(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.refresh(), 400);
  }

  async refresh(): Promise<void> {
    clearTimeout(this.#timer);
    const seq = ++this.#seq;
    try {
      const list = await api.suggestions();
      if (seq !== this.#seq) return;
      this.runId = list.runId;
      this.byImage = new Map(list.imageIds.map((id, i) => [id, { classId: list.classIds[i], confidence: list.confidences[i], split: list.splits[i] }]));
    } catch {
      // No project (closed meanwhile): nothing to show.
    }
  }

  /** Ids in gallery order: least confident suggestions first when asked, the others after them in import order. */
  arrange(ids: number[]): number[] {
    if (this.order !== 'confidence') return ids;
    const suggested = ids.filter((id) => this.byImage.has(id)).sort((a, b) => this.byImage.get(a)!.confidence - this.byImage.get(b)!.confidence || a - b);
    const rest = ids.filter((id) => !this.byImage.has(id));
    return [...suggested, ...rest];
  }

  /** Suggests labels with the chosen run (the best one unless another was chosen). */
  async start(): Promise<void> {
    this.starting = true;
    try {
      await api.startSuggestions(this.chosenRunId === null ? {} : { runId: this.chosenRunId });
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    } finally {
      this.starting = false;
    }
  }

  async cancel(): Promise<void> {
    await this.#job.cancel();
  }

  /** Accepts every suggestion at or above the threshold: of training images, and of validation and test ones only when asked. */
  async acceptAboveThreshold(includeHeldOut = false): Promise<ReviewResult | null> {
    try {
      const result = await api.acceptSuggestions({ minConfidence: this.threshold, splits: includeHeldOut ? ['train', 'val', 'test'] : ['train'] });
      toasts.show(`${result.changed} image${result.changed === 1 ? '' : 's'} labeled from suggestions. Undo with Ctrl+Z.`);
      await this.refresh();
      return result;
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
      return null;
    }
  }

  #finished(job: JobInfo<'suggest'>): void {
    const result = job.result;
    if (job.status === 'completed' && result) {
      toasts.show(`Run #${result.runId} suggested labels for ${result.images} unlabeled image${result.images === 1 ? '' : 's'}.`);
    } else if (job.status === 'failed' && job.error) {
      toasts.show(job.error.message, 'error');
    }
    void this.refresh().then(() => this.generation++);
  }
}

export const suggestions = new SuggestionsState();
