// Transports for the typed API and the client built on them. In the desktop window the
// transport is the preload bridge (IPC); in a browser it is the WebSocket of `loupe serve`.
// Both carry the same envelopes. Nothing here touches `window`, so it also runs under Node.

import {
  METHOD_NAMES,
  type EventListener,
  type EventName,
  type LoupeApi,
} from '../../../shared/api';
import type { LoupeBridge } from '../../../shared/bridge';
import { errorFromPayload } from '../../../shared/errors';
import type { Envelope, ServerMessage } from '../../../shared/protocol';

export interface Transport {
  call(method: string, params: unknown): Promise<Envelope>;
  on(event: string, listener: (payload: unknown) => void): () => void;
  /** Called after the connection came back (browser mode); the server has a fresh session. */
  onReconnect(listener: () => void): () => void;
}

export type LoupeClient = LoupeApi & {
  on<E extends EventName>(event: E, listener: EventListener<E>): () => void;
  onReconnect(listener: () => void): () => void;
};

export function createClient(transport: Transport): LoupeClient {
  const client = {
    on: (event: string, listener: (payload: unknown) => void) => transport.on(event, listener),
    onReconnect: (listener: () => void) => transport.onReconnect(listener),
  } as Record<string, unknown>;
  for (const method of METHOD_NAMES) {
    client[method] = async (params?: unknown) => {
      const envelope = await transport.call(method, params ?? {});
      if (envelope.ok) return envelope.value;
      throw errorFromPayload(envelope.error);
    };
  }
  return client as LoupeClient;
}

export function ipcTransport(bridge: LoupeBridge): Transport {
  return {
    call: (method, params) => bridge.call(method, params),
    on: (event, listener) => bridge.on(event, listener),
    onReconnect: () => () => {},
  };
}

type Pending = { resolve: (e: Envelope) => void };

/** A WebSocket that reconnects, queues calls while down, and fails calls cut off mid-flight. */
export function webSocketTransport(url: string): Transport {
  let socket: WebSocket | null = null;
  let nextId = 1;
  let connectedOnce = false;
  let retryMs = 250;
  const pending = new Map<number, Pending>();
  const queue: string[] = [];
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const reconnectListeners = new Set<() => void>();

  const connect = () => {
    const ws = new WebSocket(url);
    socket = ws;
    ws.onopen = () => {
      retryMs = 250;
      for (const frame of queue.splice(0)) ws.send(frame);
      if (connectedOnce) for (const l of reconnectListeners) l();
      connectedOnce = true;
    };
    ws.onmessage = (event) => {
      const msg = JSON.parse(String(event.data)) as ServerMessage;
      if (msg.type === 'result') {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        p?.resolve(msg.ok ? { ok: true, value: msg.value } : { ok: false, error: msg.error });
      } else if (msg.type === 'event') {
        for (const l of listeners.get(msg.name) ?? []) l(msg.payload);
      } else {
        console.error('[loupe] server error:', msg.error);
      }
    };
    ws.onclose = () => {
      socket = null;
      for (const [id, p] of pending) {
        pending.delete(id);
        p.resolve({ ok: false, error: { code: 'IO_ERROR', message: 'The connection to Loupe was lost. Retrying…' } });
      }
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
    };
  };
  connect();

  return {
    call(method, params) {
      const id = nextId++;
      const frame = JSON.stringify({ type: 'call', id, method, params });
      return new Promise<Envelope>((resolve) => {
        pending.set(id, { resolve });
        if (socket?.readyState === WebSocket.OPEN) socket.send(frame);
        else queue.push(frame);
      });
    },
    on(event, listener) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(listener);
      return () => set.delete(listener);
    },
    onReconnect(listener) {
      reconnectListeners.add(listener);
      return () => reconnectListeners.delete(listener);
    },
  };
}

