// What the Train view knows about backbones (transfer learning): which are here, a running
// download (`backbone` job), a running speed measurement (`backboneSpeed` job) and a running
// feature extraction (`features` job). Every change goes
// through the API; listeners hear when the list changed, so the plan can be made again.

import type { BackboneInfo, JobInfo, JobProgress } from '../../../shared/types';
import { api, errorMessage } from './client';
import { trackJob } from './job-tracker.svelte';
import { onLeaveProject } from './project-scope';
import { toasts } from './toasts.svelte';

class BackbonesState {
  list = $state<BackboneInfo[]>([]);
  adding = $state(false);
  readonly #listeners = new Set<() => void>();
  readonly #download = trackJob('backbone', { onFinished: (job) => this.#finished(job, 'The backbone is downloaded and verified.') });
  readonly #measure = trackJob('backboneSpeed', { onFinished: (job) => this.#finished(job, 'Speed measured on this machine.') });
  readonly #extraction = trackJob('features', { onFinished: (job) => this.#finished(job, 'Features are extracted and cached.') });

  constructor() {
    onLeaveProject(() => this.reset());
  }

  /** The running download, as last reported. */
  get download(): JobProgress<'backbone'> | null {
    return this.#download.job;
  }

  /** The running speed measurement, as last reported. */
  get measuring(): JobProgress<'backboneSpeed'> | null {
    return this.#measure.job;
  }

  /** The running feature extraction, as last reported. */
  get extraction(): JobProgress<'features'> | null {
    return this.#extraction.job;
  }

  #finished(job: JobInfo<'backbone' | 'backboneSpeed' | 'features'>, done: string): void {
    if (job.status === 'failed' && job.error) toasts.show(job.error.message, 'error');
    else if (job.status === 'completed') toasts.show(done);
    void this.refresh();
  }

  /** Called whenever the list may have changed (a download, an added model). */
  onChanged(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  async refresh(): Promise<void> {
    try {
      this.list = await api.listBackbones();
      for (const fn of this.#listeners) fn();
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
  }

  async startDownload(name: string): Promise<void> {
    try {
      await api.downloadBackbone({ name });
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
  }

  async startMeasure(name: string): Promise<void> {
    try {
      await api.measureBackboneSpeed({ name });
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
  }

  async add(request: { path: string; output?: string; size?: number }): Promise<boolean> {
    this.adding = true;
    try {
      const added = await api.addBackbone(request);
      toasts.show(added.source === 'registry' ? `Recognised as the official ${added.title}: ${added.status}` : `${added.title} can be used: ${added.status}`);
      await this.refresh();
      return true;
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
      return false;
    } finally {
      this.adding = false;
    }
  }

  async extract(backbone?: string): Promise<void> {
    try {
      await api.startFeatureExtraction(backbone ? { backbone } : {});
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
  }

  /** Cancels the running download, measurement or extraction (the job the panel shows). */
  async cancel(job: JobProgress<'backbone' | 'backboneSpeed' | 'features'> | null): Promise<void> {
    if (!job) return;
    await (job.kind === 'backbone' ? this.#download : job.kind === 'backboneSpeed' ? this.#measure : this.#extraction).cancel();
  }

  reset(): void {
    this.list = [];
    this.#download.reset();
    this.#measure.reset();
    this.#extraction.reset();
    this.adding = false;
  }
}

export const backbones = new BackbonesState();
