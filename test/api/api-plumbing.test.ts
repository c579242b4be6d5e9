// The same calls and events through both generated adapters: Electron IPC (with a fake
// ipcMain, driven by the renderer's own client) and the WebSocket of browser mode.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { METHOD_NAMES, type EventName, type LoupeEvents } from '../../src/shared/api';
import type { LoupeBridge } from '../../src/shared/bridge';
import { LoupeError } from '../../src/shared/errors';
import { ipcChannel, type Envelope } from '../../src/shared/protocol';
import { createApi } from '../../src/main/api/create-api';
import { SCHEMA_VERSION } from '../../src/main/store/migrations';
import type { Studio } from '../../src/main/api/studio';
import { isTrustedRendererUrl } from '../../src/main/desktop/policy';
import { registerIpcApi, type IpcInvokeEventLike, type IpcMainLike } from '../../src/main/transport/ipc';
import { startServer } from '../../src/main/transport/server';
import { createClient, ipcTransport, webSocketTransport, type LoupeClient } from '../../src/renderer/src/lib/transport';
import { makeStudio, onCleanup, tempDir } from '../helpers';

type Listener = (event: IpcInvokeEventLike, ...args: unknown[]) => unknown;

class FakeIpcMain implements IpcMainLike {
  readonly handlers = new Map<string, Listener>();
  handle(channel: string, listener: Listener): void {
    if (this.handlers.has(channel)) throw new Error(`second handler for ${channel}`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  async invoke(channel: string, event: IpcInvokeEventLike, ...args: unknown[]): Promise<Envelope> {
    const handler = this.handlers.get(channel);
    if (!handler) throw new Error(`No handler registered for '${channel}'`);
    return (await handler(event, ...args)) as Envelope;
  }
}

const trustedEvent: IpcInvokeEventLike = { sender: { id: 1 }, senderFrame: { url: 'loupe://app/index.html' } };

/** Wires a studio to a fake ipcMain the way the desktop shell does, and returns a client. */
function ipcClient(studio: Studio, senderEvent = trustedEvent) {
  const ipc = new FakeIpcMain();
  const listeners = new Set<(name: string, payload: unknown) => void>();
  const session = studio.createSession(<E extends EventName>(name: E, payload: LoupeEvents[E]) => {
    for (const l of listeners) l(name, payload);
  });
  const api = createApi(session);
  const unregister = registerIpcApi(ipc, {
    apiFor: (event) => (event.sender.id === 1 && event.senderFrame && isTrustedRendererUrl(event.senderFrame.url) ? api : null),
  });
  // What the preload does, minus Electron.
  const bridge: LoupeBridge = {
    call: (method, params) => ipc.invoke(ipcChannel(method), senderEvent, params),
    on(event, listener) {
      const l = (name: string, payload: unknown) => name === event && listener(payload);
      listeners.add(l);
      return () => listeners.delete(l);
    },
    pathForFile: () => '',
  };
  return { ipc, unregister, client: createClient(ipcTransport(bridge)) };
}

async function wsClient(studio: Studio) {
  const rendererDir = tempDir();
  fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>t</title>');
  const server = await startServer({ studio, rendererDir, token: 'secret-token' });
  onCleanup(() => server.close());
  const origin = `http://127.0.0.1:${server.port}`;
  // The renderer's transport uses the browser WebSocket API; `ws` speaks it too.
  const Socket = class extends WebSocket {
    constructor(url: string) {
      super(url, { origin, headers: { Authorization: 'Bearer secret-token' } });
    }
  };
  (globalThis as { WebSocket?: unknown }).WebSocket = Socket;
  onCleanup(() => void delete (globalThis as { WebSocket?: unknown }).WebSocket);
  return { server, origin, client: createClient(webSocketTransport(`ws://127.0.0.1:${server.port}/api`)) };
}

function nextEvent<E extends EventName>(client: LoupeClient, name: E): Promise<LoupeEvents[E]> {
  return new Promise((resolve) => {
    const off = client.on(name, (payload) => {
      off();
      resolve(payload);
    });
  });
}

async function scenario(client: LoupeClient) {
  const info = await client.hostInfo();
  expect(info.version).toBe('0.0.0-test');

  const dir = path.join(tempDir(), 'birds.loupe');
  const changed = nextEvent(client, 'onProjectChanged');
  const created = await client.createProject({ path: dir, name: 'Birds' });
  expect(created).toMatchObject({ path: dir, name: 'Birds', images: 0, schemaVersion: SCHEMA_VERSION });
  expect(await changed).toEqual(created);

  expect(await client.projectSummary()).toEqual(created);
  expect((await client.recentProjects()).map((r) => r.path)).toContain(dir);

  const closed = nextEvent(client, 'onProjectChanged');
  expect(await client.closeProject()).toBeNull();
  expect(await closed).toBeNull();

  await expect(client.projectSummary()).rejects.toMatchObject({ code: 'NO_PROJECT' });
  await expect(client.openProject({ path: path.join(dir, 'missing') })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  const reopened = await client.openProject({ path: dir });
  expect(reopened.name).toBe('Birds');
  // Parameters are validated by the contract's schema on the way in.
  await expect(client.openProject({ path: 42 } as never)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  await expect(client.createProject({ path: dir, extra: 1 } as never)).rejects.toBeInstanceOf(LoupeError);
}

describe('API plumbing', () => {
  it('works through the IPC adapter generated from the contract', async () => {
    const { ipc, client, unregister } = ipcClient(makeStudio());
    expect([...ipc.handlers.keys()].sort()).toEqual(METHOD_NAMES.map(ipcChannel).sort());
    await scenario(client);
    unregister();
    expect(ipc.handlers.size).toBe(0);
  });

  it('works through the WebSocket adapter generated from the contract', async () => {
    const { client } = await wsClient(makeStudio());
    await scenario(client);
  });

  it('answers unknown methods and malformed IPC calls with error codes', async () => {
    const { ipc } = ipcClient(makeStudio());
    const bad = await ipc.invoke(ipcChannel('openProject'), trustedEvent, { path: ['x'] });
    expect(bad).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    const missing = await ipc.invoke(ipcChannel('createProject'), trustedEvent, undefined);
    expect(missing).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    // The preload only forwards contract methods; anything else never reaches a channel.
    await expect(ipc.invoke(ipcChannel('deleteEverything'), trustedEvent)).rejects.toThrow(/No handler/);
  });

  it('refuses IPC calls from a frame that is not Loupe’s own', async () => {
    const studio = makeStudio();
    for (const senderFrame of [{ url: 'https://evil.example/' }, { url: 'file:///tmp/x.html' }, null]) {
      const { client } = ipcClient(studio, { sender: { id: 1 }, senderFrame });
      await expect(client.hostInfo()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    }
    const { client } = ipcClient(studio, { sender: { id: 2 }, senderFrame: { url: 'loupe://app/index.html' } });
    await expect(client.hostInfo()).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('answers unknown methods and malformed WebSocket frames with error codes', async () => {
    const { server, origin } = await wsClient(makeStudio());
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api`, { origin, headers: { Authorization: 'Bearer secret-token' } });
    onCleanup(() => ws.close());
    const replies: unknown[] = [];
    const waiters: (() => void)[] = [];
    ws.on('message', (data) => {
      replies.push(JSON.parse(String(data)));
      waiters.shift()?.();
    });
    await new Promise((resolve) => ws.once('open', resolve));
    const ask = async (frame: string) => {
      const got = new Promise<void>((resolve) => waiters.push(resolve));
      ws.send(frame);
      await got;
      return replies.at(-1);
    };
    expect(await ask(JSON.stringify({ type: 'call', id: 1, method: 'rmrf', params: {} }))).toEqual({
      type: 'result',
      id: 1,
      ok: false,
      error: { code: 'UNKNOWN_METHOD', message: 'Unknown method "rmrf".' },
    });
    expect(await ask('{not json')).toMatchObject({ type: 'error', error: { code: 'BAD_REQUEST' } });
    expect(await ask('[1,2]')).toMatchObject({ type: 'error', error: { code: 'BAD_REQUEST' } });
    expect(await ask(JSON.stringify({ type: 'call', method: 'hostInfo' }))).toMatchObject({ type: 'error', error: { code: 'BAD_REQUEST' } });
    expect(await ask(JSON.stringify({ type: 'call', id: 2, method: 'openProject', params: { path: 5 } }))).toMatchObject({
      id: 2,
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
    expect(await ask(JSON.stringify({ type: 'call', id: 3, method: 'hostInfo', params: { sneaky: true } }))).toMatchObject({
      id: 3,
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
    expect(await ask(JSON.stringify({ type: 'call', id: 4, method: 'hostInfo' }))).toMatchObject({ id: 4, ok: true });
  });

  it('shares one open project between two sessions of the same process', async () => {
    const studio = makeStudio();
    const a = ipcClient(studio).client;
    const b = ipcClient(studio).client;
    const dir = path.join(tempDir(), 'shared.loupe');
    await a.createProject({ path: dir });
    const opened = await b.openProject({ path: dir });
    expect(opened.path).toBe(dir);
    await a.closeProject();
    // b still has it; the database stays open until the last session lets go.
    expect((await b.projectSummary()).path).toBe(dir);
  });
});
