// WebSocket adapter for browser mode, generated from the contract like the IPC one: every
// connection is a session, every frame a call, every pushed event a frame.

import type { EventName, LoupeEvents } from '../../shared/api';
import { MAX_MESSAGE_BYTES, parseClientMessage, type ServerMessage } from '../../shared/protocol';
import { createApi } from '../api/create-api';
import { dispatch } from '../api/dispatch';
import type { Studio } from '../api/studio';

export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): void;
  on(event: 'close', listener: () => void): void;
}

const OPEN = 1;

export function attachWebSocketApi(socket: SocketLike, studio: Studio): void {
  const send = (msg: ServerMessage) => {
    if (socket.readyState === OPEN) socket.send(JSON.stringify(msg));
  };
  const session = studio.createSession(<E extends EventName>(name: E, payload: LoupeEvents[E]) =>
    send({ type: 'event', name, payload }),
  );
  const api = createApi(session);

  socket.on('message', (data, isBinary) => {
    const raw = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (isBinary || raw.length > MAX_MESSAGE_BYTES) {
      send({ type: 'error', error: { code: 'BAD_REQUEST', message: 'Messages must be JSON text.' } });
      return;
    }
    const msg = parseClientMessage(raw.toString('utf8'));
    if (!('type' in msg)) {
      send({ type: 'error', error: msg });
      return;
    }
    void dispatch(api, msg.method, msg.params).then((envelope) => send({ type: 'result', id: msg.id, ...envelope }));
  });
  socket.on('close', () => session.dispose());
}
