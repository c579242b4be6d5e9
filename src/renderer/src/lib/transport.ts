// Transports for the typed API and the client built on them. In the desktop window the
// transport is the preload bridge (IPC); in a browser it is the WebSocket of `loupe serve`.
// Both carry the same envelopes. Nothing here touches `window`, so it also runs under Node.
// A dropped WebSocket comes back by itself (with backoff); the server then has a fresh session,
// so the client reopens what the page had open first and catches up with the jobs it follows.

import {
  METHOD_NAMES,
  type EventListener,
  type EventName,
  type LoupeApi,
} from '../../../shared/api';
import type { LoupeBridge } from '../../../shared/bridge';
import { errorFromPayload } from '../../../shared/errors';
import type { JobInfo, JobProgress } from '../../../shared/types';
import type { Envelope, ServerMessage } from '../../../shared/protocol';

/** `open`: calls go through; `reconnecting`: the connection dropped and is being made again. */
export type ConnectionState = 'open' | 'reconnecting';

export interface Transport {
  call(method: string, params: unknown): Promise<Envelope>;
  on(event: string, listener: (payload: unknown) => void): () => void;
  /**
   * Called when the connection came back (browser mode), before any call queued meanwhile is
   * sent: the server has a fresh session, and a call made here (reopening the project) goes first.
   */
  onReconnect(listener: () => void): () => void;
  onConnectionChange(listener: (state: ConnectionState) => void): () => void;
}

export type LoupeClient = LoupeApi & {
  on<E extends EventName>(event: E, listener: EventListener<E>): () => void;
  onReconnect(listener: () => void): () => void;
  onConnectionChange(listener: (state: ConnectionState) => void): () => void;
  /**
   * Catches up with the open project's jobs after the page (re)joined it: running jobs are
   * reported to the listeners as progress, and jobs this page followed that ended meanwhile
   * (while the connection was down) as finished.
   */
  resyncJobs(): Promise<void>;
};

export function createClient(transport: Transport): LoupeClient {
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const deliver = (event: string, payload: unknown) => {
    for (const l of [...(listeners.get(event) ?? [])]) l(payload);
  };
  const on = (event: string, listener: (payload: unknown) => void) => {
    let set = listeners.get(event);
    if (!set) {
      listeners.set(event, (set = new Set()));
      transport.on(event, (payload) => deliver(event, payload));
    }
    set.add(listener);
    return () => void set.delete(listener);
  };
  // The jobs this page has heard running and not yet heard end.
  const following = new Set<string>();
  on('onJobProgress', (p) => void following.add((p as JobProgress).jobId));
  on('onJobFinished', (j) => void following.delete((j as JobInfo).jobId));

  const client = {
    on,
    onReconnect: (listener: () => void) => transport.onReconnect(listener),
    onConnectionChange: (listener: (state: ConnectionState) => void) => transport.onConnectionChange(listener),
    async resyncJobs() {
      const jobs = (await (client as unknown as LoupeApi).listJobs()) as JobInfo[];
      for (const job of jobs) {
        if (job.status === 'running') deliver('onJobProgress', job);
        else if (following.has(job.jobId)) deliver('onJobFinished', job);
      }
    },
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
    onConnectionChange: () => () => {},
  };
}

type Pending = { resolve: (e: Envelope) => void; sent: boolean };

const OPEN = 1;
export const RETRY_FIRST_MS = 250;
export const RETRY_MAX_MS = 5000;

/** A WebSocket that reconnects with backoff, queues calls while down, and fails calls cut off mid-flight. */
export function webSocketTransport(url: string): Transport {
  let socket: WebSocket | null = null;
  let nextId = 1;
  let connectedOnce = false;
  let retryMs = RETRY_FIRST_MS;
  const pending = new Map<number, Pending>();
  /** Calls made while the connection was down, sent once it is back. */
  const queue: { id: number; frame: string }[] = [];
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const reconnectListeners = new Set<() => void>();
  const stateListeners = new Set<(state: ConnectionState) => void>();
  let state: ConnectionState = 'open';
  const setState = (next: ConnectionState) => {
    if (next === state) return;
    state = next;
    for (const l of stateListeners) l(next);
  };

  const send = (ws: WebSocket, id: number, frame: string) => {
    const p = pending.get(id);
    if (p) p.sent = true;
    ws.send(frame);
  };

  const connect = () => {
    const ws = new WebSocket(url);
    socket = ws;
    ws.onopen = () => {
      retryMs = RETRY_FIRST_MS;
      // Reopen first (the listeners call at once, so their frames go out now), then the rest.
      if (connectedOnce) for (const l of reconnectListeners) l();
      for (const { id, frame } of queue.splice(0)) send(ws, id, frame);
      connectedOnce = true;
      setState('open');
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
    ws.onerror = () => {}; // the close that follows handles it
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      if (connectedOnce) setState('reconnecting');
      // A call already sent may or may not have been done: say so. Queued ones wait for the next connection.
      for (const [id, p] of pending) {
        if (!p.sent) continue;
        pending.delete(id);
        p.resolve({ ok: false, error: { code: 'DISCONNECTED', message: 'The connection to Loupe was lost. Retrying…' } });
      }
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    };
  };
  connect();

  return {
    call(method, params) {
      const id = nextId++;
      const frame = JSON.stringify({ type: 'call', id, method, params });
      return new Promise<Envelope>((resolve) => {
        pending.set(id, { resolve, sent: false });
        if (socket?.readyState === OPEN) send(socket, id, frame);
        else queue.push({ id, frame });
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
    onConnectionChange(listener) {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },
  };
}

