// Wire formats shared by the transports. IPC carries `Envelope`s; the WebSocket carries
// `ClientMessage`s up and `ServerMessage`s down.

import type { ErrorPayload } from './errors';

export type Envelope<T = unknown> = { ok: true; value: T } | { ok: false; error: ErrorPayload };

export interface CallMessage {
  type: 'call';
  id: number;
  method: string;
  params?: unknown;
}

export type ClientMessage = CallMessage;

export type ServerMessage =
  | ({ type: 'result'; id: number } & Envelope)
  | { type: 'event'; name: string; payload: unknown }
  /** A message the server could not attribute to a call (malformed JSON, no id). */
  | { type: 'error'; error: ErrorPayload };

/** IPC channel names. One channel per API method, prefixed so the preload can check them. */
export const IPC_PREFIX = 'loupe:';
export const IPC_EVENT_CHANNEL = 'loupe:event';
export const ipcChannel = (method: string): string => `${IPC_PREFIX}${method}`;

export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Parses one WebSocket frame from a client, without trusting anything in it. */
export function parseClientMessage(raw: string): CallMessage | ErrorPayload {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { code: 'BAD_REQUEST', message: 'The message is not valid JSON.' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { code: 'BAD_REQUEST', message: 'The message must be a JSON object.' };
  }
  const msg = value as Record<string, unknown>;
  if (msg.type !== 'call') {
    return { code: 'BAD_REQUEST', message: 'The message type must be "call".' };
  }
  if (typeof msg.id !== 'number' || !Number.isSafeInteger(msg.id)) {
    return { code: 'BAD_REQUEST', message: 'The message needs an integer id.' };
  }
  if (typeof msg.method !== 'string') {
    return { code: 'BAD_REQUEST', message: 'The message needs a method name.' };
  }
  return { type: 'call', id: msg.id, method: msg.method, params: msg.params };
}
