// The window's job trackers: a JobTracker (job-tracker.ts) on the page's client whose state is
// reactive, so a view that reads `tracker.job` shows each progress report. A cancel that cannot
// be asked says why in a toast.

import type { JobKind } from '../../../shared/types';
import { api, errorMessage } from './client';
import { JobTracker, type JobHandlers, type JobSlot } from './job-tracker';
import { toasts } from './toasts.svelte';

/** Follows jobs of `kind` in the open project for a store. */
export function trackJob<K extends JobKind>(kind: K, handlers: JobHandlers<K> = {}): JobTracker<K> {
  const slot = $state<JobSlot<K>>({ job: null, cancelling: false });
  return new JobTracker(api, kind, { onCancelFailed: (err) => toasts.show(errorMessage(err), 'error'), ...handlers }, slot);
}
