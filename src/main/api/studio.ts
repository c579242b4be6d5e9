// The process-wide state behind every front end: open projects (shared between the windows or
// browser tabs that have the same project open), the app's own state, and the host's abilities.
// Jobs belong to the process, not to the page that started them: a project stays open while a
// session shows it or one of its jobs runs, so closing a tab or losing the connection never stops
// a training. Only closing the studio (the server stopping, the desktop app quitting) cancels jobs.

import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { LoupeError } from '../../shared/errors';
import type { EventName, LoupeEvents } from '../../shared/api';
import type { HostMode, JobKind, JobResults, PathKind, RunningJob } from '../../shared/types';
import { Jobs, type JobWork } from '../jobs/jobs';
import type { AppState } from '../store/app-state';
import { pruneUploads, recoverImports } from '../services/import';
import { Uploads } from '../services/import/uploads';
import { Project } from '../store/project';
import { toErrorPayload } from './dispatch';

export interface Host {
  mode: HostMode;
  /** Native open/save dialogs; absent where there are none (browser mode, CLI). */
  choosePath?: (kind: PathKind, title?: string) => Promise<string[]>;
  /** The project `loupe serve --project` was started with. */
  initialProject?: string | null;
}

export interface StudioOptions {
  appState: AppState;
  host: Host;
  version: string;
}

type Emit = <E extends EventName>(name: E, payload: LoupeEvents[E]) => void;

interface OpenEntry {
  project: Project;
  sessions: Set<Session>;
}

export class Studio {
  readonly appState: AppState;
  readonly host: Host;
  readonly version: string;
  /** Tells one serving process from the next: a page returns to its project only in the same one. */
  readonly instanceId = randomUUID();
  readonly jobs = new Jobs(toErrorPayload);
  /** Browser mode's streamed uploads of dropped files. */
  readonly uploads = new Uploads();
  readonly #open = new Map<string, OpenEntry>();
  readonly #sessions = new Set<Session>();

  constructor(options: StudioOptions) {
    this.appState = options.appState;
    this.host = options.host;
    this.version = options.version;
  }

  createSession(emit: Emit): Session {
    const session = new Session(this, emit);
    this.#sessions.add(session);
    return session;
  }

  /** Opens (or shares the already open) project for a session. */
  acquire(root: string, session: Session, create?: { name?: string }): Project {
    // One project, one entry, however its path is spelled (a symbolic link, a bind mount):
    // two windows share it rather than the second being refused as "open elsewhere".
    if (!create) root = canonicalPath(root);
    let entry = this.#open.get(root);
    if (create) {
      if (entry) throw new LoupeError('ALREADY_EXISTS', `${root} is already an open project.`);
      entry = { project: Project.create(root, create.name), sessions: new Set() };
      this.#open.set(root, entry);
    } else if (!entry) {
      // A folder Loupe may not write to opens read-only (the window says so) rather than not at all.
      const project = Project.open(root, { allowReadOnly: true });
      // Whatever a killed process left behind: interrupted imports, temp files, stale uploads.
      recoverImports(project);
      pruneUploads(project, new Set());
      entry = { project, sessions: new Set() };
      this.#open.set(root, entry);
    }
    entry.sessions.add(session);
    return entry.project;
  }

  /**
   * A session lets go of a project. The last one out closes it, unless a job of the project is
   * still running: then it closes when the last job ends and no session has come back.
   */
  release(project: Project, session: Session): void {
    this.#open.get(project.root)?.sessions.delete(session);
    this.#closeIfUnused(project.root);
  }

  #closeIfUnused(root: string): void {
    const entry = this.#open.get(root);
    if (!entry || entry.sessions.size > 0 || this.jobs.running(root).length > 0) return;
    this.#open.delete(root);
    entry.project.close();
  }

  /** Jobs running in every open project, with the project's name (for a page with none open). */
  runningJobs(): RunningJob[] {
    return this.jobs.running().flatMap((job) => {
      const project = this.#open.get(job.projectPath)?.project;
      if (!project) return [];
      const { jobId, kind, projectPath, phase, done, total, ratePerSecond, etaSeconds, startedAt } = job;
      return [{ jobId, kind, projectPath, projectName: project.name, phase, done, total, ratePerSecond, etaSeconds, startedAt }];
    });
  }

  /** Starts long work on a project as a job whose progress reaches every window showing it. */
  startJob<K extends JobKind>(
    project: Project,
    kind: K,
    work: JobWork<K>,
    options?: { exclusive?: boolean; phase?: string },
  ): { jobId: string; promise: Promise<JobResults[K]> } {
    const started = this.jobs.start(
      kind,
      project.root,
      {
        progress: (info) => this.emitToProject(project, 'onJobProgress', info),
        finished: (info) => this.emitToProject(project, 'onJobFinished', info),
      },
      work,
      options,
    );
    // Once the job and whatever its caller chained to it are done: a project nobody shows goes.
    const ended = () => setImmediate(() => this.#closeIfUnused(project.root));
    started.promise.then(ended, ended);
    return started;
  }

  /** The open project with this media key, if any session has it open. */
  projectByKey(key: string): Project | null {
    for (const { project } of this.#open.values()) if (project.key === key) return project;
    return null;
  }

  /** Sends an event to every session that has this project open (but `except`). */
  emitToProject<E extends EventName>(project: Project, name: E, payload: LoupeEvents[E], except?: Session): void {
    for (const session of this.#open.get(project.root)?.sessions ?? []) {
      if (session !== except) session.emit(name, payload);
    }
  }

  forget(session: Session): void {
    this.#sessions.delete(session);
  }

  /** Stops every job and closes everything; used on quit and by tests. */
  async close(): Promise<void> {
    await this.jobs.cancelAll();
    for (const session of [...this.#sessions]) session.dispose();
    for (const { project } of this.#open.values()) project.close();
    this.#open.clear();
    this.appState.close();
  }
}

/** The real path of a folder that exists; the path as given otherwise (opening reports it). */
function canonicalPath(root: string): string {
  try {
    return fs.realpathSync(root);
  } catch {
    return root;
  }
}

/** One window or browser tab: which project it has open, and where its events go. */
export class Session {
  #project: Project | null = null;

  constructor(
    readonly studio: Studio,
    readonly emit: Emit,
  ) {}

  get project(): Project | null {
    return this.#project;
  }

  /** The open project, or a NO_PROJECT error for calls that need one. */
  requireProject(): Project {
    if (!this.#project) throw new LoupeError('NO_PROJECT', 'Open or create a project first.');
    return this.#project;
  }

  setProject(project: Project | null): void {
    if (this.#project && this.#project !== project) this.studio.release(this.#project, this);
    this.#project = project;
  }

  dispose(): void {
    this.setProject(null);
    this.studio.forget(this);
  }
}
