// A client of `loupe serve`'s WebSocket API, as the browser talks to it (another tab, or a
// script labeling at full speed): calls matched to replies by id, events passed to listeners.
// Calls still waiting when the connection closes (a killed server) are rejected.

import WebSocket from 'ws';

export interface ApiReply {
  ok: boolean;
  value?: unknown;
  error?: unknown;
}

export interface WsApi {
  call(method: string, params?: unknown): Promise<ApiReply>;
  /** `call`, resolving to the value and rejecting with the error of a failed call. */
  value<T = unknown>(method: string, params?: unknown): Promise<T>;
  onEvent(listener: (name: string, payload: unknown) => void): void;
  close(): void;
}

/** Connects to the server of `openUrl` (the `?token=` address `loupe serve` prints). */
export async function connectApi(openUrl: string): Promise<WsApi> {
  const url = new URL(openUrl);
  const ws = new WebSocket(`ws://${url.host}/api`, { headers: { Origin: url.origin, Authorization: `Bearer ${url.searchParams.get('token')}` } });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => {}); // a killed server closes it: the close handler answers what waits
  const waiting = new Map<number, { resolve: (reply: ApiReply) => void; reject: (err: unknown) => void }>();
  const listeners: ((name: string, payload: unknown) => void)[] = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { type: string; id?: number; name?: string; payload?: unknown } & ApiReply;
    if (msg.type === 'event') for (const listener of listeners) listener(msg.name!, msg.payload);
    if (msg.type !== 'result' || msg.id === undefined) return;
    waiting.get(msg.id)?.resolve({ ok: msg.ok, value: msg.value, error: msg.error });
    waiting.delete(msg.id);
  });
  ws.on('close', () => {
    for (const w of waiting.values()) w.reject(new Error('the connection closed'));
    waiting.clear();
  });
  let next = 1;
  const call = (method: string, params: unknown = {}) =>
    new Promise<ApiReply>((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject });
      ws.send(JSON.stringify({ type: 'call', id, method, params }));
    });
  return {
    call,
    async value<T>(method: string, params?: unknown) {
      const reply = await call(method, params);
      if (!reply.ok) throw reply.error;
      return reply.value as T;
    },
    onEvent: (listener) => void listeners.push(listener),
    close: () => ws.terminate(),
  };
}
