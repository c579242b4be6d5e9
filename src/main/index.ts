// The desktop shell: the only part of the main process that knows about Electron. It creates
// sandboxed windows, wires each to a session of the core services through generated IPC
// handlers, serves the renderer and media through the confined `loupe://` protocol, and puts
// native dialogs and the menu in front of the same API that browser mode and the CLI use.

import { app, BrowserWindow, dialog, ipcMain, session, shell, type WebContents } from 'electron';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EventName, LoupeApi, LoupeEvents } from '../shared/api';
import { IPC_EVENT_CHANNEL } from '../shared/protocol';
import type { MenuCommand, PathKind } from '../shared/types';
import { createApi } from './api/create-api';
import { Studio, type Session } from './api/studio';
import { buildMenu } from './desktop/menu';
import {
  allowPermission,
  APP_ENTRY,
  externalUrlToOpen,
  isTrustedRendererUrl,
  webPreferences,
} from './desktop/policy';
import { handleProtocol, registerSchemePrivileges } from './desktop/protocol';
import { QuitGuard, type QuitQuestion } from './desktop/quit-guard';
import { AppState } from './store/app-state';
import { setSqliteNativeBinding } from './store/database';
import { registerIpcApi, type IpcInvokeEventLike } from './transport/ipc';
import { packageRoot } from './version';

const here = path.dirname(fileURLToPath(import.meta.url));
const devServerUrl = process.env.ELECTRON_RENDERER_URL;

registerSchemePrivileges();
app.enableSandbox();

// better-sqlite3 must be built for Electron's ABI; `npm start` prepares that build.
const electronSqlite = path.join(packageRoot(), 'native', `electron-${process.versions.electron}`, 'better_sqlite3.node');
if (fs.existsSync(electronSqlite)) setSqliteNativeBinding(electronSqlite);

interface WindowEntry {
  win: BrowserWindow;
  session: Session;
  api: LoupeApi;
}
const windows = new Map<number, WindowEntry>();

async function choosePath(kind: PathKind, title?: string): Promise<string[]> {
  const parent = BrowserWindow.getFocusedWindow() ?? undefined;
  const properties: ('openDirectory' | 'openFile' | 'multiSelections' | 'createDirectory' | 'promptToCreate')[] =
    kind === 'openFile' ? ['openFile'] : kind === 'openFiles' ? ['openFile', 'multiSelections'] : ['openDirectory', 'createDirectory'];
  if (kind === 'createDirectory') properties.push('promptToCreate');
  const options = { title, properties };
  const result = parent ? await dialog.showOpenDialog(parent, options) : await dialog.showOpenDialog(options);
  return result.canceled ? [] : result.filePaths;
}

function trustedApi(event: IpcInvokeEventLike): LoupeApi | null {
  const entry = windows.get(event.sender.id);
  const frame = event.senderFrame as (IpcInvokeEventLike['senderFrame'] & { parent?: unknown }) | null;
  if (!entry || !frame || frame.parent) return null; // only our windows' top frames
  return isTrustedRendererUrl(frame.url, devServerUrl) ? entry.api : null;
}

function confirmQuit(question: QuitQuestion, win?: BrowserWindow): boolean {
  const options = {
    type: 'warning' as const,
    buttons: ['Quit anyway', 'Cancel'],
    defaultId: 1,
    cancelId: 1,
    message: question.message,
    detail: question.detail,
  };
  return (win ? dialog.showMessageBoxSync(win, options) : dialog.showMessageBoxSync(options)) === 0;
}

function createWindow(studio: Studio, guard: QuitGuard<BrowserWindow>): BrowserWindow {
  const win = new BrowserWindow({
    width: 1360,
    height: 880,
    minWidth: 720,
    minHeight: 480,
    show: false,
    title: 'Loupe',
    backgroundColor: '#16181d',
    icon: path.join(packageRoot(), 'resources', 'icon.png'),
    webPreferences: webPreferences(path.join(here, '../preload/index.cjs')),
  });
  const contents = win.webContents;
  const send = <E extends EventName>(name: E, payload: LoupeEvents[E]) => {
    if (!contents.isDestroyed()) contents.send(IPC_EVENT_CHANNEL, name, payload);
  };
  const sessionForWindow = studio.createSession(send);
  const id = contents.id;
  windows.set(id, { win, session: sessionForWindow, api: createApi(sessionForWindow) });
  win.on('close', (event) => guard.windowClosing(event, win));
  win.on('closed', () => {
    windows.get(id)?.session.dispose();
    windows.delete(id);
  });
  win.once('ready-to-show', () => win.show());
  void win.loadURL(devServerUrl ?? APP_ENTRY);
  return win;
}

function harden(contents: WebContents): void {
  contents.on('will-navigate', (event, url) => {
    if (!isTrustedRendererUrl(url, devServerUrl) || url !== contents.getURL()) event.preventDefault();
  });
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    const external = externalUrlToOpen(url);
    if (external) void shell.openExternal(external);
    return { action: 'deny' };
  });
}

async function start(): Promise<void> {
  await app.whenReady();
  const studio = new Studio({
    appState: new AppState(app.getPath('userData')),
    host: { mode: 'desktop', choosePath },
    version: app.getVersion(),
  });
  // Jobs outlive a closed browser tab, but not the app: ask before quitting stops them.
  const guard = new QuitGuard<BrowserWindow>({
    runningJobs: () => studio.runningJobs(),
    confirm: confirmQuit,
    windowCount: () => BrowserWindow.getAllWindows().length,
    quitsWithLastWindow: process.platform !== 'darwin',
  });
  app.on('before-quit', (event) => guard.beforeQuit(event));
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, permission, callback) => callback(allowPermission(permission)));
  ses.setPermissionCheckHandler((_wc, permission) => allowPermission(permission));
  ses.setDevicePermissionHandler((details) => allowPermission(details.deviceType));
  app.on('web-contents-created', (_event, contents) => harden(contents));
  handleProtocol(studio, path.join(here, '../renderer'));
  registerIpcApi(ipcMain, { apiFor: trustedApi });
  buildMenu(
    () => BrowserWindow.getFocusedWindow(),
    (win, command: MenuCommand) => win.webContents.send(IPC_EVENT_CHANNEL, 'onMenuCommand', command),
    () => createWindow(studio, guard),
  );
  createWindow(studio, guard);
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow(studio, guard);
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  // Stop jobs (training, import) cleanly before the process goes.
  let quitting = false;
  app.on('will-quit', (event) => {
    if (quitting) return;
    quitting = true;
    event.preventDefault();
    void studio.close().finally(() => app.exit(0));
  });
}

void start();
