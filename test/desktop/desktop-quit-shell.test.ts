// The real desktop shell (src/main/index.ts) with a stand-in for the `electron` module (its
// binary is not installed here), as in security-electron.test.ts: a training started through the
// window's IPC makes closing the last window ask first; "Cancel" keeps the window, "Quit anyway"
// quits once, and the quit stops the training cleanly (the run is recorded as cancelled).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Envelope } from '../../src/shared/protocol';
import { ipcChannel } from '../../src/shared/protocol';
import type { TrainStarted } from '../../src/shared/types';
import { APP_ENTRY } from '../../src/main/desktop/policy';
import { listRuns } from '../../src/main/services/training/records';
import { Project } from '../../src/main/store/project';
import { makeFixtureProject } from '../fixtures';

type Listener = (...args: never[]) => unknown;

const electron = vi.hoisted(() => {
  const state = {
    home: '',
    appListeners: new Map<string, Listener[]>(),
    windows: [] as { listeners: Map<string, Listener[]>; contents: { id: number } }[],
    ipc: new Map<string, Listener>(),
    /** The button each question gets (0: Quit anyway, 1: Cancel), and the questions asked. */
    answer: 1,
    asked: [] as { message: string; buttons: string[] }[],
    exited: null as number | null,
  };
  let nextId = 1;
  class BrowserWindow {
    webContents = { id: nextId++, send: () => {}, isDestroyed: () => false };
    readonly #listeners = new Map<string, Listener[]>();
    constructor() {
      state.windows.push({ listeners: this.#listeners, contents: this.webContents });
    }
    on(event: string, fn: Listener) {
      this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), fn]);
      return this;
    }
    once() {
      return this;
    }
    show() {}
    loadURL() {
      return Promise.resolve();
    }
    static getFocusedWindow() {
      return null;
    }
    static getAllWindows() {
      return state.windows;
    }
  }
  const showMessageBoxSync = (...args: unknown[]) => {
    const options = args.at(-1) as { message: string; buttons: string[] };
    state.asked.push({ message: options.message, buttons: options.buttons });
    return state.answer;
  };
  const mock = {
    app: {
      enableSandbox: () => {},
      whenReady: () => Promise.resolve(),
      getPath: () => state.home,
      getVersion: () => '0.0.0-test',
      isPackaged: true,
      on: (event: string, fn: Listener) => void state.appListeners.set(event, [...(state.appListeners.get(event) ?? []), fn]),
      quit: () => {},
      exit: (code: number) => void (state.exited = code),
    },
    BrowserWindow,
    dialog: { showOpenDialog: async () => ({ canceled: true, filePaths: [] }), showMessageBoxSync },
    ipcMain: {
      handle: (channel: string, fn: Listener) => void state.ipc.set(channel, fn),
      removeHandler: (channel: string) => void state.ipc.delete(channel),
    },
    session: {
      defaultSession: { setPermissionRequestHandler: () => {}, setPermissionCheckHandler: () => {}, setDevicePermissionHandler: () => {} },
    },
    shell: { openExternal: async () => {} },
    protocol: { registerSchemesAsPrivileged: () => {}, handle: () => {} },
    Menu: { buildFromTemplate: (t: unknown) => t, setApplicationMenu: () => {} },
  };
  return { state, mock };
});

vi.mock('electron', () => ({ ...electron.mock, default: electron.mock }));

const { state } = electron;
let work = '';

/** Calls the API as the window's renderer does, through the shell's IPC handler. */
async function call<T>(method: string, params: unknown = {}): Promise<T> {
  const handler = state.ipc.get(ipcChannel(method)) as (event: unknown, params: unknown) => Promise<Envelope>;
  const reply = await handler({ sender: { id: state.windows[0].contents.id }, senderFrame: { url: APP_ENTRY, parent: null } }, params);
  if (!reply.ok) throw new Error(`${method}: ${reply.error.code} ${reply.error.message}`);
  return reply.value as T;
}

/** Fires an event the shell listens to; says whether it called preventDefault. */
function fire(listeners: Listener[] | undefined): boolean {
  let prevented = false;
  for (const fn of listeners ?? []) (fn as (e: unknown) => void)({ preventDefault: () => (prevented = true) });
  return prevented;
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-desktop-quit-'));
  state.home = path.join(work, 'home');
  fs.mkdirSync(state.home);
  await import('../../src/main/index');
  await vi.waitFor(() => expect(state.windows.length).toBe(1));
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

// On macOS closing the last window does not quit (desktop-quit.test.ts covers that case).
describe.skipIf(process.platform === 'darwin')('desktop shell: quitting while a training runs', () => {
  it('asks before the last window closes, and stops the training cleanly only when told to quit', { timeout: 120_000 }, async () => {
    const dir = path.join(work, 'pets.loupe');
    await makeFixtureProject(dir, { count: 300, classes: ['cat', 'dog', 'bird'], label: (i) => ['cat', 'dog', 'bird'][i % 3] });
    const closeListeners = state.windows[0].listeners.get('close');

    // Nothing running: the window closes without a question.
    await call('openProject', { path: dir });
    expect(fire(closeListeners)).toBe(false);
    expect(state.asked).toEqual([]);

    // Minutes here (1000 epochs at 64 px): it cannot end on its own during the test.
    const overrides = { arch: 'mlp', width: 64, height: 64, epochs: 1000, patience: null };
    const { runId } = await call<TrainStarted>('startTraining', { overrides });

    state.answer = 1; // Cancel
    expect(fire(closeListeners), 'the window stays').toBe(true);
    expect(state.asked).toEqual([{ message: 'Training is running in pets. Quitting stops it. Quit anyway?', buttons: ['Quit anyway', 'Cancel'] }]);

    state.answer = 0; // Quit anyway
    expect(fire(closeListeners)).toBe(false);
    // The last window gone, the app quits: asked once, not again.
    expect(fire(state.appListeners.get('before-quit'))).toBe(false);
    expect(state.asked).toHaveLength(2);
    fire(state.appListeners.get('will-quit'));
    await vi.waitFor(() => expect(state.exited).toBe(0), { timeout: 60_000 });

    const project = Project.open(dir);
    try {
      expect(listRuns(project.db).map((r) => [r.id, r.status])).toEqual([[runId, 'cancelled']]);
    } finally {
      project.close();
    }
  });
});
