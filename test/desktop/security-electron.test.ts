// Electron's security checklist (electronjs.org/docs/latest/tutorial/security), item by item,
// checked against the real desktop shell: src/main/index.ts and the preload are loaded here
// with a stand-in for the `electron` module that records what the shell configures (window
// options, session handlers, navigation hooks, IPC handlers, the protocol handler), so every
// assertion reads the configuration the app applies, not a copy of it.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { METHOD_NAMES } from '../../src/shared/api';
import { ipcChannel } from '../../src/shared/protocol';
import { APP_ENTRY } from '../../src/main/desktop/policy';
import { contentSecurityPolicy } from '../../src/main/transport/security';
import { repoRoot } from '../helpers';

type Listener = (...args: never[]) => unknown;

const electron = vi.hoisted(() => {
  const state = {
    home: '',
    calls: [] as string[],
    appListeners: new Map<string, Listener[]>(),
    windows: [] as { options: Record<string, unknown>; contents: { id: number }; loaded: string[] }[],
    ipc: new Map<string, Listener>(),
    permissionRequest: null as Listener | null,
    permissionCheck: null as Listener | null,
    devicePermission: null as Listener | null,
    schemes: [] as unknown[],
    protocolHandler: null as ((request: { url: string }) => Response | Promise<Response>) | null,
    opened: [] as string[],
    exposed: new Map<string, Record<string, unknown>>(),
    invoked: [] as string[],
  };
  let nextId = 1;
  class BrowserWindow {
    webContents: { id: number; send: () => void; isDestroyed: () => boolean };
    constructor(options: Record<string, unknown>) {
      this.webContents = { id: nextId++, send: () => {}, isDestroyed: () => false };
      state.windows.push({ options, contents: this.webContents, loaded: [] });
    }
    on() {
      return this;
    }
    once() {
      return this;
    }
    show() {}
    loadURL(url: string) {
      state.windows.find((w) => w.contents === this.webContents)!.loaded.push(url);
      return Promise.resolve();
    }
    static getFocusedWindow() {
      return null;
    }
    static getAllWindows() {
      return [];
    }
  }
  const mock = {
    app: {
      enableSandbox: () => void state.calls.push('enableSandbox'),
      whenReady: () => Promise.resolve(),
      getPath: () => state.home,
      getVersion: () => '0.0.0-test',
      isPackaged: true,
      on: (event: string, fn: Listener) => {
        state.appListeners.set(event, [...(state.appListeners.get(event) ?? []), fn]);
      },
      quit: () => {},
      exit: () => {},
    },
    BrowserWindow,
    dialog: { showOpenDialog: async () => ({ canceled: true, filePaths: [] }) },
    ipcMain: {
      handle: (channel: string, fn: Listener) => void state.ipc.set(channel, fn),
      removeHandler: (channel: string) => void state.ipc.delete(channel),
    },
    session: {
      defaultSession: {
        setPermissionRequestHandler: (fn: Listener) => void (state.permissionRequest = fn),
        setPermissionCheckHandler: (fn: Listener) => void (state.permissionCheck = fn),
        setDevicePermissionHandler: (fn: Listener) => void (state.devicePermission = fn),
      },
    },
    shell: { openExternal: async (url: string) => void state.opened.push(url) },
    protocol: {
      registerSchemesAsPrivileged: (schemes: unknown[]) => void state.schemes.push(...schemes),
      handle: (_scheme: string, fn: typeof state.protocolHandler) => void (state.protocolHandler = fn),
    },
    Menu: { buildFromTemplate: (t: unknown) => t, setApplicationMenu: () => {} },
    contextBridge: { exposeInMainWorld: (name: string, api: Record<string, unknown>) => void state.exposed.set(name, api) },
    ipcRenderer: {
      invoke: async (channel: string) => {
        state.invoked.push(channel);
        return { ok: true, value: null };
      },
      on: () => {},
      removeListener: () => {},
    },
    webUtils: { getPathForFile: () => '/x' },
  };
  return { state, mock };
});

vi.mock('electron', () => ({ ...electron.mock, default: electron.mock }));

const { state } = electron;

/** A stand-in for a webContents, recording the hooks the shell puts on it. */
function fakeContents(url: string) {
  const hooks = new Map<string, Listener>();
  let openHandler: ((details: { url: string }) => { action: string }) | null = null;
  return {
    hooks,
    open: (url: string) => openHandler!({ url }),
    contents: {
      on: (event: string, fn: Listener) => void hooks.set(event, fn),
      setWindowOpenHandler: (fn: typeof openHandler) => void (openHandler = fn),
      getURL: () => url,
    },
  };
}

/** Fires a hooked event; says whether the shell called preventDefault. */
function prevented(hook: Listener | undefined, ...args: unknown[]): boolean {
  let stopped = false;
  (hook as (...a: unknown[]) => void)({ preventDefault: () => (stopped = true) }, ...args);
  return stopped;
}

beforeAll(async () => {
  state.home = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-electron-home-'));
  await import('../../src/main/index');
  await vi.waitFor(() => expect(state.windows.length).toBe(1));
});

afterAll(async () => {
  // The shell's own quit path closes the studio (and its app-state database).
  for (const fn of state.appListeners.get('will-quit') ?? []) (fn as (e: unknown) => void)({ preventDefault: () => {} });
  await new Promise((r) => setTimeout(r, 50));
  fs.rmSync(state.home, { recursive: true, force: true });
});

describe('Electron security checklist, on the real shell', () => {
  it('2-4, 6, 8, 9: no Node in the renderer, context isolation, sandbox, web security, no insecure content or experimental features', () => {
    const prefs = state.windows[0].options.webPreferences as Record<string, unknown>;
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
    });
    expect(String(prefs.preload)).toMatch(/preload[\\/]index\.cjs$/);
    // 10: no Blink features switched on.
    expect(prefs).not.toHaveProperty('enableBlinkFeatures');
    // Sandboxing for every renderer, not only this window's.
    expect(state.calls).toContain('enableSandbox');
  });

  it('1, 17: loads only its own content, over its own confined protocol (never file://)', () => {
    expect(state.windows[0].loaded).toEqual([APP_ENTRY]);
    expect(APP_ENTRY.startsWith('loupe://app/')).toBe(true);
    expect(state.schemes).toEqual([{ scheme: 'loupe', privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } }]);
    const privileges = (state.schemes[0] as { privileges: Record<string, unknown> }).privileges;
    expect(privileges.bypassCSP).toBeUndefined();
    expect(privileges.corsEnabled).toBeUndefined();
  });

  it('5: denies every permission request and check by default', () => {
    for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'clipboard-sanitized-write', 'midi', 'openExternal', 'fullscreen', 'pointerLock', 'hid', 'serial', 'usb', 'display-capture', 'unknown-future-permission']) {
      let granted: boolean | null = null;
      (state.permissionRequest as (...a: unknown[]) => void)({}, permission, (ok: boolean) => (granted = ok), {});
      expect(granted, permission).toBe(false);
      expect((state.permissionCheck as (...a: unknown[]) => boolean)({}, permission, 'loupe://app', {}), permission).toBe(false);
    }
    // USB, HID and serial devices, even where a permission check would pass.
    for (const deviceType of ['hid', 'serial', 'usb']) {
      expect((state.devicePermission as (d: unknown) => boolean)({ deviceType, origin: 'loupe://app', device: {} }), deviceType).toBe(false);
    }
  });

  it('7: serves its pages with a strict Content-Security-Policy', async () => {
    const page = await state.protocolHandler!({ url: 'loupe://app/index.html' });
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toBe(contentSecurityPolicy());
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*|http:|https:/);
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    // No frames can be loaded at all (frame-src falls back to default-src 'none').
    expect(csp).not.toMatch(/frame-src|child-src/);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('11-14: blocks navigation, redirects, webviews and new windows; opens only https links, in the browser', () => {
    const web = fakeContents(APP_ENTRY);
    for (const fn of state.appListeners.get('web-contents-created') ?? []) (fn as (...a: unknown[]) => void)({}, web.contents);
    const navigate = web.hooks.get('will-navigate');
    expect(prevented(navigate, 'https://evil.example/')).toBe(true);
    expect(prevented(navigate, 'file:///etc/passwd')).toBe(true);
    expect(prevented(navigate, 'loupe://app/other.html')).toBe(true);
    expect(prevented(navigate, 'loupe://media/x')).toBe(true);
    expect(prevented(navigate, APP_ENTRY), 'a reload of itself is allowed').toBe(false);
    expect(prevented(web.hooks.get('will-redirect'), 'https://evil.example/')).toBe(true);
    expect(prevented(web.hooks.get('will-attach-webview'), {}, {})).toBe(true);

    for (const url of ['https://onnx.ai/', 'http://example.com/', 'file:///etc/passwd', 'javascript:alert(1)', 'loupe://app/index.html', 'smb://host/share']) {
      expect(web.open(url), url).toEqual({ action: 'deny' });
    }
    // 15: shell.openExternal only with https URLs.
    expect(state.opened).toEqual(['https://onnx.ai/']);
  });

  it('16: answers IPC only from its own windows’ top frames at its own origin', async () => {
    expect([...state.ipc.keys()].sort()).toEqual(METHOD_NAMES.map(ipcChannel).sort());
    const handler = state.ipc.get(ipcChannel('hostInfo'))!;
    const call = (event: unknown) => (handler as (e: unknown, p: unknown) => Promise<{ ok: boolean; error?: { code: string } }>)(event, undefined);
    const id = state.windows[0].contents.id;
    const ours = { sender: { id }, senderFrame: { url: APP_ENTRY, parent: null } };
    expect(await call(ours)).toMatchObject({ ok: true });
    const forbidden = { ok: false, error: { code: 'FORBIDDEN' } };
    expect(await call({ ...ours, sender: { id: id + 100 } }), 'another webContents').toMatchObject(forbidden);
    expect(await call({ ...ours, senderFrame: { url: APP_ENTRY, parent: {} } }), 'a subframe').toMatchObject(forbidden);
    expect(await call({ ...ours, senderFrame: { url: 'https://evil.example/', parent: null } }), 'a foreign page').toMatchObject(forbidden);
    expect(await call({ ...ours, senderFrame: { url: 'file:///tmp/x.html', parent: null } }), 'a file page').toMatchObject(forbidden);
    expect(await call({ ...ours, senderFrame: null }), 'no frame').toMatchObject(forbidden);
  });

  it('17: the protocol serves nothing outside the renderer and open projects, whatever the spelling', async () => {
    const secret = path.join(repoRoot, 'package.json');
    expect(fs.existsSync(secret)).toBe(true);
    for (const url of [
      'loupe://app/../package.json',
      'loupe://app/..%2f..%2fpackage.json',
      'loupe://app/%2e%2e/%2e%2e/package.json',
      'loupe://app/..%5c..%5cpackage.json',
      'loupe://app/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      'loupe://app/main.ts',
      'loupe://app/%E0%A4%A',
      'loupe://app/index.html%00.png',
      'loupe://media/../../etc/passwd',
      'loupe://media/media/000000000000000000000000/image/' + '0'.repeat(64),
      'loupe://evil/index.html',
      'loupe://app.evil/index.html',
    ]) {
      const reply = await state.protocolHandler!({ url });
      expect([400, 403, 404], `${url} -> ${reply.status}`).toContain(reply.status);
      const body = await reply.text();
      expect(body).not.toContain('"name": "loupe"');
      expect(body).not.toContain('root:');
    }
  });

  it('19: the preload exposes the API contract and nothing else', async () => {
    await import('../../src/preload/index');
    expect([...state.exposed.keys()]).toEqual(['loupe']);
    const bridge = state.exposed.get('loupe')!;
    expect(Object.keys(bridge).sort()).toEqual(['call', 'on', 'pathForFile']);
    for (const value of Object.values(bridge)) expect(typeof value).toBe('function');
    const call = bridge.call as (m: string, p?: unknown) => Promise<{ ok: boolean; error?: { code: string } }>;
    expect(await call('not-a-method')).toMatchObject({ ok: false, error: { code: 'UNKNOWN_METHOD' } });
    expect(await call('__proto__')).toMatchObject({ ok: false, error: { code: 'UNKNOWN_METHOD' } });
    expect(state.invoked).toEqual([]);
    await call('hostInfo');
    expect(state.invoked).toEqual([ipcChannel('hostInfo')]);
    expect(() => (bridge.on as (e: string, f: () => void) => void)('not-an-event', () => {})).toThrow(/Unknown event/);
  });

  it('15 (current Electron): the shell is built against a supported Electron release', () => {
    const installed = JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules/electron/package.json'), 'utf8')).version as string;
    const wanted = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).devDependencies.electron as string;
    expect(Number(installed.split('.')[0])).toBe(Number(wanted.replace(/^\D+/, '').split('.')[0]));
    // Electron supports its latest three major lines; 45 was current when this was written.
    expect(Number(installed.split('.')[0])).toBeGreaterThanOrEqual(45);
  });
});
