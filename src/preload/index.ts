// Exposes the API contract to the sandboxed renderer and nothing else: every call must name a
// method of the contract, every subscription an event of it.

import { contextBridge, ipcRenderer, webUtils } from 'electron';
import { isEventName, isMethodName } from '../shared/api';
import type { LoupeBridge } from '../shared/bridge';
import { IPC_EVENT_CHANNEL, ipcChannel, type Envelope } from '../shared/protocol';

const bridge: LoupeBridge = {
  call(method, params) {
    if (!isMethodName(method)) {
      return Promise.resolve<Envelope>({
        ok: false,
        error: { code: 'UNKNOWN_METHOD', message: `Unknown method "${String(method).slice(0, 100)}".` },
      });
    }
    return ipcRenderer.invoke(ipcChannel(method), params) as Promise<Envelope>;
  },
  on(event, listener) {
    if (!isEventName(event)) throw new Error(`Unknown event "${String(event).slice(0, 100)}".`);
    const handler = (_e: Electron.IpcRendererEvent, name: unknown, payload: unknown) => {
      if (name === event) listener(payload);
    };
    ipcRenderer.on(IPC_EVENT_CHANNEL, handler);
    return () => ipcRenderer.removeListener(IPC_EVENT_CHANNEL, handler);
  },
  pathForFile(file) {
    return webUtils.getPathForFile(file);
  },
};

contextBridge.exposeInMainWorld('loupe', bridge);
