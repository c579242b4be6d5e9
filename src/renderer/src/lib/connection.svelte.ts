// Whether the page is connected to the studio. In browser mode a dropped connection comes back
// by itself; meanwhile the window says so instead of failing call after call, and after a while
// says what else may be wrong (a restarted server needs its new URL: the old token is refused).

import { api } from './client';
import type { ConnectionState } from './transport';

/** How long reconnecting goes on before the page suggests the server may have stopped. */
const LONG_MS = 15_000;

class ConnectionStatus {
  state = $state<ConnectionState>('open');
  /** Reconnecting for longer than LONG_MS. */
  long = $state(false);
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    api.onConnectionChange((state) => {
      this.state = state;
      clearTimeout(this.#timer);
      this.long = false;
      if (state === 'reconnecting') this.#timer = setTimeout(() => (this.long = true), LONG_MS);
    });
  }
}

export const connection = new ConnectionStatus();
