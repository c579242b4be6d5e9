// What the window knows about the studio: the host, the open project, the recent list, and the
// jobs running in other projects. Every change goes through the API; the state here only
// mirrors what the core reports.

import type { HostInfo, ProjectSummary, RecentProject, RunningJob } from '../../../shared/types';
import { LoupeError } from '../../../shared/errors';
import { api, errorMessage } from './client';
import { leaveProject } from './project-scope';
import { forgetPlace, recallPlace, rememberPlace } from './last-place';
import { router, type Route } from './router.svelte';
import { toasts } from './toasts.svelte';

class StudioState {
  host = $state<HostInfo | null>(null);
  project = $state<ProjectSummary | null>(null);
  recent = $state<RecentProject[]>([]);
  /** Jobs running in the projects the server has open (shown on the start screen). */
  running = $state<RunningJob[]>([]);
  busy = $state(false);
  /** Told when the project is open again after a dropped connection (the open views reload their data). */
  #rejoined = new Set<() => void>();

  async init(): Promise<void> {
    api.on('onProjectChanged', (summary) => this.#show(summary));
    // Browser mode: a new connection is a new session; reopen what this tab had open.
    api.onReconnect(() => void this.#rejoin());
    this.host = await api.hostInfo();
    // The URL's own route first; else, in a browser, where this browser last was on this server
    // (a closed tab comes back to its project and its running training); else `--project`.
    const initial = this.host.initialProject ? { projectPath: this.host.initialProject, view: 'label' } : null;
    const remembered = this.host.mode === 'browser' ? recallPlace(this.host.instanceId) : null;
    const wanted: Route | null = router.route.projectPath ? router.route : (remembered ?? initial);
    if (!wanted?.projectPath) return this.refreshRecent();
    // A remembered project that cannot be opened any more (moved, deleted) is quietly forgotten.
    const fromMemory = wanted === remembered;
    if (!(await this.open(wanted.projectPath, { view: wanted.view, quiet: fromMemory })) && fromMemory) forgetPlace();
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
      [this.recent, this.running] = await Promise.all([api.recentProjects(), api.runningJobs()]);
    } catch (err) {
      toasts.show(errorMessage(err), 'error');
    }
  }

  async refreshRunning(): Promise<void> {
    try {
      this.running = await api.runningJobs();
    } catch {
      // The connection is down: the banner says so, and the list is refreshed when it is back.
    }
  }

  /** Calls `listener` each time the project is open again after a dropped connection; returns the way to stop. */
  onRejoin(listener: () => void): () => void {
    this.#rejoined.add(listener);
    return () => void this.#rejoined.delete(listener);
  }

  /** Remembers where this page is, so a new tab on the bare URL comes back here. */
  remember(route: Route): void {
    if (this.host?.mode === 'browser' && route.projectPath) rememberPlace(this.host.instanceId, route);
  }

  /**
   * After the connection came back: reopens the project for the new session, then catches up
   * with its jobs. The open call must leave at once (before any call queued while down).
   */
  async #rejoin(): Promise<void> {
    const path = this.project?.path;
    if (!path) return this.refreshRecent();
    try {
      this.project = await api.openProject({ path });
      await api.resyncJobs();
      // What another window changed while the connection was down came as no events: ask again.
      for (const listener of [...this.#rejoined]) listener();
    } catch (err) {
      // Dropped again: the next reconnection tries again.
      if (err instanceof LoupeError && err.code === 'DISCONNECTED') return;
      toasts.show(errorMessage(err), 'error');
      this.project = null;
      router.replace({ projectPath: null, view: 'label' });
      await this.refreshRecent();
    }
  }

  async #enter(work: () => Promise<ProjectSummary>, view = 'label', quiet = false): Promise<boolean> {
    this.busy = true;
    try {
      const summary = await work();
      this.#show(summary);
      router.replace({ projectPath: summary.path, view });
      // Jobs of this project already running (started by a tab since closed) show at once.
      void api.resyncJobs().catch(() => {});
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
    forgetPlace();
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
