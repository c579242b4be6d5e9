// Where this browser last was in a studio: a tab closed with a project open (or on a training
// that keeps running) comes back there when the URL is opened again. Kept per origin in
// localStorage, and only for the same run of the server (its jobs do not outlive it).

import { formatRoute, parseRoute, type Route } from './router.svelte';

const KEY = 'loupe.lastPlace';

export function rememberPlace(instanceId: string, route: Route): void {
  try {
    localStorage.setItem(KEY, JSON.stringify({ instanceId, hash: formatRoute(route) }));
  } catch {
    // Storage refused (private mode, quota): the page simply starts on the start screen.
  }
}

/** The place remembered for this run of the server, if any. */
export function recallPlace(instanceId: string): Route | null {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? 'null') as { instanceId?: unknown; hash?: unknown } | null;
    if (saved?.instanceId !== instanceId || typeof saved.hash !== 'string') return null;
    const route = parseRoute(saved.hash);
    return route.projectPath ? route : null;
  } catch {
    return null;
  }
}

/** The user closed the project: the next page starts on the start screen. */
export function forgetPlace(): void {
  try {
    localStorage.removeItem(KEY);
  } catch {
    // Nothing was stored.
  }
}
