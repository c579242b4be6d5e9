// In the desktop app, jobs run in the app's own process: quitting stops them (cleanly: a training
// is kept as cancelled). Closing the last window quits on Windows and Linux. So either way, while
// a job runs, the app asks first. A browser tab is different: there the job goes on without it.
// Written against the few Electron calls it needs, so it is tested without Electron.

import type { JobKind, RunningJob } from '../../shared/types';

export interface QuitQuestion {
  message: string;
  detail: string;
}

const NAMES: Record<JobKind, string> = {
  train: 'Training',
  import: 'An import',
  export: 'An export',
  features: 'Feature extraction',
  suggest: 'Labeling suggestions',
  labelErrors: 'A label check',
  backbone: 'A backbone download',
  backboneSpeed: 'A backbone speed measurement',
  doctor: 'A data check',
  map: 'The map’s layout',
};

/** What to ask before quitting stops these jobs; null when none runs. */
export function quitQuestion(jobs: RunningJob[]): QuitQuestion | null {
  if (jobs.length === 0) return null;
  const [first] = jobs;
  const what = `${NAMES[first.kind]} is running in ${first.projectName}`;
  const more = jobs.length === 1 ? '' : ` (and ${jobs.length - 1} more job${jobs.length === 2 ? '' : 's'})`;
  return {
    message: `${what}${more}. Quitting stops ${jobs.length === 1 ? 'it' : 'them'}. Quit anyway?`,
    detail: 'A stopped training is kept in the run history as cancelled; an import can be resumed later.',
  };
}

export interface PreventableEvent {
  preventDefault(): void;
}

export interface QuitGuardHost<W> {
  runningJobs(): RunningJob[];
  /** Shows the question (over `window` when given); true when the person chose to quit. */
  confirm(question: QuitQuestion, window?: W): boolean;
  /** How many windows are open, the closing one included. */
  windowCount(): number;
  /** Whether closing the last window quits the app (not on macOS). */
  quitsWithLastWindow: boolean;
}

/** Asks once before a quit (or the last window's close) would stop running jobs. */
export class QuitGuard<W> {
  #confirmed = false;

  constructor(private readonly host: QuitGuardHost<W>) {}

  /** A window's `close` event. */
  windowClosing(event: PreventableEvent, window: W): void {
    if (this.#confirmed || !this.host.quitsWithLastWindow || this.host.windowCount() > 1) return;
    this.#ask(event, window);
  }

  /** The app's `before-quit` event (a menu's Quit, Cmd+Q, or the last window gone). */
  beforeQuit(event: PreventableEvent): void {
    if (!this.#confirmed) this.#ask(event);
  }

  #ask(event: PreventableEvent, window?: W): void {
    const question = quitQuestion(this.host.runningJobs());
    if (!question) return;
    if (this.host.confirm(question, window)) this.#confirmed = true;
    else event.preventDefault();
  }
}
