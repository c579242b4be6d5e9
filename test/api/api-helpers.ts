// A session of a studio as a test client: the API, the events it received, and a way to wait
// for the next event of a kind.

import type { EventName, LoupeEvents } from '../../src/shared/api';
import { createApi } from '../../src/main/api/create-api';
import type { Studio } from '../../src/main/api/studio';

export function client(studio: Studio) {
  const events: { name: EventName; payload: unknown }[] = [];
  const waiters: { name: EventName; test: (p: unknown) => boolean; resolve: (p: unknown) => void }[] = [];
  const session = studio.createSession(<E extends EventName>(name: E, payload: LoupeEvents[E]) => {
    events.push({ name, payload });
    for (const w of [...waiters]) {
      if (w.name === name && w.test(payload)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(payload);
      }
    }
  });
  const next = <E extends EventName>(name: E, test: (p: LoupeEvents[E]) => boolean = () => true) =>
    new Promise<LoupeEvents[E]>((resolve) => waiters.push({ name, test: test as (p: unknown) => boolean, resolve: resolve as (p: unknown) => void }));
  return { api: createApi(session), events, next, session };
}

export const finished = (c: ReturnType<typeof client>, jobId: string) => c.next('onJobFinished', (j) => j.jobId === jobId);
