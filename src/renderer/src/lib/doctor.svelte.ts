// The Doctor view's state: the last report, the check running as a `doctor` job (progress,
// Cancel, and found again after a reload), which finding is open, and dismissing findings. The
// open finding's images live in a Gallery (gallery.svelte.ts), so relabeling, moving, removing
// and Undo work there as in the Label view.

import type { DoctorCheck, DoctorFinding, DoctorReport } from '../../../shared/types';
import { api, errorMessage } from './client';
import { trackJob } from './job-tracker.svelte';
import { toasts } from './toasts.svelte';

export const CHECK_TITLES: Record<DoctorCheck, string> = {
  nearDuplicate: 'Near-duplicates',
  blurry: 'Blurry',
  tooDark: 'Too dark',
  tooBright: 'Too bright',
  lowInformation: 'Nearly one colour',
  greyscale: 'Greyscale among colour',
  oddSize: 'Odd size',
  oddAspect: 'Odd aspect ratio',
  classImbalance: 'Class imbalance',
  outlier: 'Outlier',
  classInTwo: 'Class in two',
  labelError: 'Likely label error',
};

/** Findings listed at once; more on request (a project of 60,000 images can have thousands). */
const PAGE = 200;

export class DoctorState {
  report = $state.raw<DoctorReport | null>(null);
  loaded = $state(false);
  /** The open finding, by key (stays open while others are dismissed). */
  openKey = $state<string | null>(null);
  shown = $state(PAGE);
  starting = $state(false);
  readonly tracker = trackJob('doctor', {
    onFinished: (job) => {
      if (job.status === 'completed' && job.result) this.#show(job.result);
      else if (job.status === 'failed') toasts.show(job.error?.message ?? 'The check failed.', 'error');
      else if (job.status === 'cancelled') toasts.show('Check cancelled. The images read so far are kept; the next check starts from there.');
    },
  });

  get findings(): DoctorFinding[] {
    return this.report?.findings ?? [];
  }

  get open(): DoctorFinding | undefined {
    return this.findings.find((f) => f.key === this.openKey) ?? this.findings[0];
  }

  async load(): Promise<void> {
    try {
      const report = await api.doctorReport();
      this.#show(report);
      await this.tracker.attach();
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    } finally {
      this.loaded = true;
    }
  }

  /** The report again (after an undo, say): dismissals undone show their findings again. */
  async refresh(): Promise<void> {
    try {
      this.#show(await api.doctorReport());
    } catch {
      // The project was closed meanwhile.
    }
  }

  async start(): Promise<void> {
    this.starting = true;
    try {
      await api.startDoctor();
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    } finally {
      this.starting = false;
    }
  }

  cancel(): Promise<void> {
    return this.tracker.cancel();
  }

  select(key: string): void {
    this.openKey = key;
  }

  /** Opens the next (or previous) finding. */
  step(by: number): void {
    const list = this.findings;
    if (list.length === 0) return;
    const at = Math.max(0, list.findIndex((f) => f.key === this.open?.key));
    const next = Math.max(0, Math.min(list.length - 1, at + by));
    if (next >= this.shown) this.shown = next + 1;
    this.openKey = list[next].key;
  }

  /** Hides the open finding (undoable) and opens the next one. */
  async dismiss(finding = this.open): Promise<boolean> {
    if (!finding) return false;
    const list = this.findings;
    const at = list.findIndex((f) => f.key === finding.key);
    const next = list[at + 1] ?? list[at - 1];
    try {
      const report = await api.dismissDoctorFindings({ keys: [finding.key] });
      this.openKey = next?.key ?? null;
      this.#show(report);
      return true;
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
      return false;
    }
  }

  #show(report: DoctorReport | null): void {
    this.report = report;
    if (!report?.findings.some((f) => f.key === this.openKey)) this.openKey = report?.findings[0]?.key ?? null;
  }

  reset(): void {
    this.report = null;
    this.loaded = false;
    this.openKey = null;
    this.shown = PAGE;
    this.tracker.reset();
  }
}
