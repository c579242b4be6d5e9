// The one global the desktop preload exposes to the renderer (`window.loupe`). The renderer
// talks to it only through the API client; it carries envelopes, never raw IPC.

import type { Envelope } from './protocol';

export interface LoupeBridge {
  call(method: string, params: unknown): Promise<Envelope>;
  /** Subscribes to one pushed event; returns the unsubscribe function. */
  on(event: string, listener: (payload: unknown) => void): () => void;
  /** The file-system path of a file dropped onto the window. */
  pathForFile(file: File): string;
}
