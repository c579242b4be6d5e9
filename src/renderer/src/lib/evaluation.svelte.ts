// What the Evaluate view knows: the completed runs, the run and split being evaluated, its
// metrics, the gallery of its images (a confusion cell, top losses, least confident, a class,
// one run right and the other wrong, likely label errors) with what the model said of each,
// a second run to compare with, and the label-error finder's job and findings.

import type {
  EvalSplit,
  Evaluation,
  EvaluationFilter,
  JobInfo,
  JobProgress,
  LabelCheckInfo,
  LabelIssue,
  RunComparison,
  RunSummary,
} from '../../../shared/types';
import { api, errorMessage } from './client';
import { onLeaveProject } from './project-scope';
import { Gallery } from './gallery.svelte';
import { trackJob } from './job-tracker.svelte';
import { toasts } from './toasts.svelte';

export type GallerySource =
  | { kind: 'eval'; filter: EvaluationFilter }
  | { kind: 'compare'; side: 'a' | 'b' }
  | { kind: 'issues' };

export interface Said {
  classId: number;
  confidence: number;
}

const REFRESH_MS = 150;

class EvaluationState {
  runs = $state.raw<RunSummary[]>([]);
  runId = $state<number | null>(null);
  split = $state<EvalSplit | null>(null);
  evaluation = $state.raw<Evaluation | null>(null);
  error = $state<string | null>(null);
  normalized = $state(false);
  threshold = $state(0.8);
  compareId = $state<number | null>(null);
  comparison = $state.raw<RunComparison | null>(null);
  /** Pending label issues by image, and the check that found them. */
  issues = $state.raw<Map<number, LabelIssue>>(new Map());
  check = $state.raw<LabelCheckInfo | null>(null);
  readonly #checkJob = trackJob('labelErrors', { onFinished: (job) => this.#checkFinished(job) });
  checkStarting = $state(false);
  source = $state.raw<GallerySource>({ kind: 'eval', filter: { mode: 'misclassified' } });
  /** What the model (run A when comparing) said of each image in the gallery. */
  said = $state.raw<Map<number, Said>>(new Map());
  /** What run B said, when the gallery shows a comparison. */
  saidB = $state.raw<Map<number, Said>>(new Map());
  /** Set before opening the view (the Train view's Evaluate button): evaluate this run. */
  requestedRunId: number | null = null;

  readonly gallery = new Gallery({ ids: () => this.#galleryIds(), advance: 'next' });
  #projectPath: string | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #seq = 0;

  constructor() {
    onLeaveProject(() => {
      this.reset();
      this.#projectPath = null;
    });
    api.on('onRunsChanged', () => void this.#refreshRuns());
  }

  /** The running label check (`labelErrors` job), as last reported. */
  get checkJob(): JobProgress<'labelErrors'> | null {
    return this.#checkJob.job;
  }

  async load(projectPath: string): Promise<void> {
    if (projectPath !== this.#projectPath) this.reset();
    this.#projectPath = projectPath;
    await this.#refreshRuns();
    const wanted = this.requestedRunId;
    this.requestedRunId = null;
    const completed = this.runs.map((r) => r.id);
    if (wanted !== null && completed.includes(wanted)) this.runId = wanted;
    else if (this.runId === null || !completed.includes(this.runId)) this.runId = this.runs.find((r) => r.best)?.id ?? this.runs[0]?.id ?? null;
    await Promise.all([this.refresh(), this.refreshIssues(), this.#checkJob.attach()]);
    await this.gallery.load();
  }

  async #refreshRuns(): Promise<void> {
    if (!this.#projectPath) return;
    try {
      this.runs = (await api.listRuns()).filter((r) => r.status === 'completed');
    } catch {
      this.runs = [];
    }
  }

  /** After a dropped connection came back: runs, scores, label issues and the gallery again. */
  async resync(): Promise<void> {
    await this.#refreshRuns();
    await Promise.all([this.refresh(), this.refreshIssues()]);
    await this.gallery.resync();
  }

  /** The evaluation (and comparison) again, e.g. after labels changed. */
  async refresh(): Promise<void> {
    clearTimeout(this.#timer);
    const seq = ++this.#seq;
    if (this.runId === null) {
      this.evaluation = null;
      return;
    }
    try {
      const evaluation = await api.evaluateRun({ runId: this.runId, ...(this.split ? { split: this.split } : {}) });
      const comparison =
        this.compareId !== null && this.compareId !== this.runId
          ? await api.compareRuns({ runA: this.runId, runB: this.compareId, split: evaluation.split })
          : null;
      if (seq !== this.#seq) return;
      this.evaluation = evaluation;
      this.split = evaluation.split;
      this.comparison = comparison;
      this.error = null;
    } catch (err) {
      if (seq !== this.#seq) return;
      this.error = errorMessage(err);
    }
  }

  /** Coalesces bursts of label changes into one refresh. */
  refreshSoon(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      void this.refresh();
      void this.refreshIssues();
    }, REFRESH_MS);
  }

  async refreshIssues(): Promise<void> {
    try {
      const list = await api.labelIssues();
      this.check = list.check;
      this.issues = new Map(list.issues.map((i) => [i.imageId, i]));
    } catch {
      // No project (closed meanwhile).
    }
  }

  async selectRun(runId: number): Promise<void> {
    this.runId = runId;
    if (this.compareId === runId) this.compareId = null;
    await this.refresh();
    await this.show({ kind: 'eval', filter: { mode: 'misclassified' } });
  }

  async selectSplit(split: EvalSplit): Promise<void> {
    this.split = split;
    await this.refresh();
    await this.show(this.source.kind === 'issues' ? this.source : { kind: 'eval', filter: { mode: 'misclassified' } });
  }

  async compareWith(runId: number | null): Promise<void> {
    this.compareId = runId;
    await this.refresh();
    if (this.source.kind === 'compare') await this.show({ kind: 'eval', filter: { mode: 'misclassified' } });
  }

  /** Shows a set of images in the gallery. */
  async show(source: GallerySource): Promise<void> {
    this.source = source;
    await this.gallery.load();
  }

  async #galleryIds(): Promise<number[]> {
    const source = this.source;
    if (source.kind === 'issues') {
      await this.refreshIssues();
      const issues = [...this.issues.values()];
      this.said = new Map(issues.map((i) => [i.imageId, { classId: i.suggestedClassId, confidence: i.suggestedProbability }]));
      return issues.map((i) => i.imageId);
    }
    if (source.kind === 'compare') {
      const c = this.comparison;
      const list = c ? (source.side === 'a' ? c.aOnlyCorrect : c.bOnlyCorrect) : [];
      this.said = new Map(list.map((im) => [im.imageId, im.a]));
      this.saidB = new Map(list.map((im) => [im.imageId, im.b]));
      return list.map((im) => im.imageId);
    }
    if (this.runId === null || !this.evaluation) return [];
    const images = await api.evaluationImages({ runId: this.runId, split: this.evaluation.split, filter: source.filter });
    this.said = new Map(images.imageIds.map((id, i) => [id, { classId: images.predictedClassIds[i], confidence: images.confidences[i] }]));
    return images.imageIds;
  }

  async startCheck(): Promise<void> {
    if (this.runId === null) return;
    this.checkStarting = true;
    try {
      await api.startLabelCheck({ runId: this.runId });
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    } finally {
      this.checkStarting = false;
    }
  }

  async cancelCheck(): Promise<void> {
    await this.#checkJob.cancel();
  }

  /** Accepts (label as suggested) or dismisses the issues of these images. */
  async resolve(imageIds: number[], action: 'accept' | 'dismiss'): Promise<void> {
    const pending = imageIds.filter((id) => this.issues.has(id));
    if (pending.length === 0) return;
    if (action === 'accept') {
      this.gallery.selection.clear();
      for (const id of pending) this.gallery.selection.add(id);
      await this.gallery.accept(
        (id) => this.issues.get(id)?.suggestedClassId,
        (ids) => api.resolveLabelIssues({ imageIds: ids, action: 'accept' }),
        'check',
      );
    } else {
      try {
        const result = await api.resolveLabelIssues({ imageIds: pending, action: 'dismiss' });
        this.gallery.undoState = result.undo;
        this.gallery.selection.clear();
      } catch (err) {
        toasts.show(errorMessage(err), 'error');
      }
    }
    await this.refreshIssues();
  }

  #checkFinished(job: JobInfo<'labelErrors'>): void {
    const result = job.result;
    if (job.status === 'completed' && result) {
      toasts.show(`Label check: ${result.flagged} likely label error${result.flagged === 1 ? '' : 's'} in ${result.images} images.`);
      void this.show({ kind: 'issues' });
    } else if (job.status === 'failed' && job.error) {
      toasts.show(job.error.message, 'error');
    }
  }

  reset(): void {
    clearTimeout(this.#timer);
    this.#seq++;
    this.runs = [];
    this.runId = null;
    this.split = null;
    this.evaluation = null;
    this.error = null;
    this.compareId = null;
    this.comparison = null;
    this.issues = new Map();
    this.check = null;
    this.#checkJob.reset();
    this.source = { kind: 'eval', filter: { mode: 'misclassified' } };
    this.said = new Map();
    this.saidB = new Map();
  }
}

export const evaluation = new EvaluationState();
