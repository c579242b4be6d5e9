// Electron IPC adapter, generated from the contract: one `handle` per API method. It does not
// import electron; the desktop shell passes in `ipcMain` and decides which senders it trusts.

import { METHOD_NAMES, type LoupeApi } from '../../shared/api';
import { ipcChannel, type Envelope } from '../../shared/protocol';
import { dispatch } from '../api/dispatch';

export interface IpcInvokeEventLike {
  sender: { id: number };
  senderFrame: { url: string } | null;
}

export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcInvokeEventLike, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
}

export interface IpcApiOptions {
  /** The API of the window that sent the call, or null when the sender is not one of ours. */
  apiFor(event: IpcInvokeEventLike): LoupeApi | null;
}

/** Registers a handler per method; returns a function that removes them all. */
export function registerIpcApi(ipc: IpcMainLike, options: IpcApiOptions): () => void {
  for (const method of METHOD_NAMES) {
    ipc.handle(ipcChannel(method), async (event, params): Promise<Envelope> => {
      const api = options.apiFor(event);
      if (!api) {
        return { ok: false, error: { code: 'FORBIDDEN', message: 'Calls are accepted only from Loupe’s own window.' } };
      }
      return dispatch(api, method, params);
    });
  }
  return () => {
    for (const method of METHOD_NAMES) ipc.removeHandler(ipcChannel(method));
  };
}
