// The renderer's only way to reach the core: the typed API over whichever transport this page
// has (see transport.ts).

import type { LoupeBridge } from '../../../shared/bridge';
import { LoupeError } from '../../../shared/errors';
import { mediaPath, type MediaKind } from '../../../shared/media-url';
import { createClient, ipcTransport, webSocketTransport, type LoupeClient, type Transport } from './transport';

declare global {
  interface Window {
    loupe?: LoupeBridge;
  }
}

function pickTransport(): Transport {
  if (window.loupe) return ipcTransport(window.loupe);
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return webSocketTransport(`${scheme}://${location.host}/api`);
}

export const api: LoupeClient = createClient(pickTransport());

/** A message for a person, whatever was thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof LoupeError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** The URL of an image or its thumbnail, on either host. */
export function mediaUrl(projectKey: string, kind: MediaKind, hash: string): string {
  const rel = mediaPath(projectKey, kind, hash);
  return window.loupe ? `loupe://${rel}` : `/${rel}`;
}
