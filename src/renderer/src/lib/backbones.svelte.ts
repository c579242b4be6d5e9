// What the Train view knows about backbones (transfer learning): which are here, a running
// download (`backbone` job) and a running feature extraction (`features` job). Every change goes
// through the API; listeners hear when the list changed, so the plan can be made again.

import type { BackboneInfo, JobProgress } from '../../../shared/types';
import { api, errorMessage } from './client';
import { onLeaveProject } from './project-scope';
import { toasts } from './toasts.svelte';

class BackbonesState {
  list = $state<BackboneInfo[]>([]);
  /** The running download, as last reported. */
  download = $state<JobProgress | null>(null);
  /** The running feature extraction, as last reported. */
  extraction = $state<JobProgress | null>(null);
  adding = $state(false);
  readonly #listeners = new Set<() => void>();

  constructor() {
    onLeaveProject(() => this.reset());
    api.on('onJobProgress', (p) => {
      if (p.kind === 'backbone') this.download = p;
      else if (p.kind === 'features') this.extraction = p;
    });
    api.on('onJobFinished', (job) => {
      if (job.kind !== 'backbone' && job.kind !== 'features') return;
      if (job.kind === 'backbone') this.download = null;
      else this.extraction = null;
      if (job.status === 'failed' && job.error) toasts.show(job.error.message, 'error');
      else if (job.status === 'completed') toasts.show(job.kind === 'backbone' ? 'The backbone is downloaded and verified.' : 'Features are extracted and cached.');
      void this.refresh();
    });
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

  async add(request: { path: string; output?: string; size?: number }): Promise<boolean> {
    this.adding = true;
    try {
      const added = await api.addBackbone(request);
      toasts.show(`${added.title} can be used: ${added.status}`);
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

  async cancel(job: JobProgress | null): Promise<void> {
    if (!job) return;
    try {
      await api.cancelJob({ jobId: job.jobId });
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
  }

  reset(): void {
    this.list = [];
    this.download = null;
    this.extraction = null;
    this.adding = false;
  }
}

export const backbones = new BackbonesState();
