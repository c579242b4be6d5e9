// What the window knows about the studio: the host, the open project, the recent list.
// Every change goes through the API; the state here only mirrors what the core reports.

import type { HostInfo, ProjectSummary, RecentProject } from '../../../shared/types';
import { LoupeError } from '../../../shared/errors';
import { api, errorMessage } from './client';
import { leaveProject } from './project-scope';
import { router } from './router.svelte';
import { toasts } from './toasts.svelte';

class StudioState {
  host = $state<HostInfo | null>(null);
  project = $state<ProjectSummary | null>(null);
  recent = $state<RecentProject[]>([]);
  busy = $state(false);

  async init(): Promise<void> {
    api.on('onProjectChanged', (summary) => this.#show(summary));
    // Browser mode: a new connection is a new session; reopen what this tab had open.
    api.onReconnect(() => {
      if (this.project) void this.open(this.project.path, { quiet: true });
    });
    this.host = await api.hostInfo();
    const wanted = router.route.projectPath ?? this.host.initialProject;
    if (wanted) await this.open(wanted, { view: router.route.view });
    else await this.refreshRecent();
  }

  /** Shows `summary`; what the window knew about another project is dropped first. */
  #show(summary: ProjectSummary | null): void {
    if (summary?.path !== this.project?.path) {
      leaveProject();
      toasts.reset();
    }
    this.project = summary;
  }

  async refreshRecent(): Promise<void> {
    try {
      this.recent = await api.recentProjects();
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
  }

  async #enter(work: () => Promise<ProjectSummary>, view = 'label', quiet = false): Promise<boolean> {
    this.busy = true;
    try {
      const summary = await work();
      this.#show(summary);
      router.replace({ projectPath: summary.path, view });
      return true;
    } catch (err) {
      if (!quiet) toasts.show(errorMessage(err), 'error');
      router.replace({ projectPath: null, view: 'label' });
      await this.refreshRecent();
      return false;
    } finally {
      this.busy = false;
    }
  }

  open(path: string, options: { view?: string; quiet?: boolean } = {}): Promise<boolean> {
    return this.#enter(() => api.openProject({ path }), options.view, options.quiet);
  }

  create(path: string, name: string): Promise<boolean> {
    return this.#enter(() => api.createProject({ path, name }));
  }

  /** Creates the sample project (its digits import as a job), or opens it if it is there. */
  createSample(path: string): Promise<boolean> {
    return this.#enter(async () => {
      try {
        return (await api.createSampleProject({ path, kind: 'digits' })).project;
      } catch (err) {
        if (err instanceof LoupeError && err.code === 'ALREADY_EXISTS') return api.openProject({ path });
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    await api.closeProject();
    this.#show(null);
    router.go({ projectPath: null, view: 'label' });
    await this.refreshRecent();
  }

  async refresh(): Promise<void> {
    if (this.project) this.#show(await api.projectSummary());
  }
}

export const studio = new StudioState();
