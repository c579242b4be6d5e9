// Whether the page is connected to the studio. In browser mode a dropped connection comes back
// by itself; meanwhile the window says so instead of failing call after call.

import { api } from './client';
import type { ConnectionState } from './transport';

class ConnectionStatus {
  state = $state<ConnectionState>('open');

  constructor() {
    api.onConnectionChange((state) => (this.state = state));
  }
}

export const connection = new ConnectionStatus();
