// Errors cross every boundary (IPC, WebSocket, CLI) as data: a stable code and a sentence a
// person understands. Callers branch on `code`, never on the message.

export const ERROR_CODES = [
  'BAD_REQUEST', // malformed message or invalid parameters
  'UNKNOWN_METHOD', // the method is not part of the API
  'UNAUTHORIZED', // missing or wrong token (browser mode)
  'FORBIDDEN', // a request from a foreign origin, frame or path
  'NOT_SUPPORTED', // the host cannot do this (e.g. native dialogs in browser mode)
  'NO_PROJECT', // the call needs an open project
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'NOT_A_PROJECT', // a folder or file that is not a Loupe project
  'FUTURE_VERSION', // written by a newer Loupe
  'PROJECT_LOCKED', // open in another Loupe process
  'READ_ONLY',
  'INVALID_PATH',
  'INVALID_INPUT', // a request that is well-formed but makes no sense for this data
  'IO_ERROR',
  'DISK_FULL',
  'CANCELLED',
  'BUSY', // another long job of the same kind is running
  'DISCONNECTED', // the connection dropped before the answer came (browser mode); it is being made again
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorPayload {
  code: ErrorCode;
  message: string;
}

export class LoupeError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LoupeError';
  }

  toPayload(): ErrorPayload {
    return { code: this.code, message: this.message };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** Rebuilds an error received over a transport. */
export function errorFromPayload(payload: unknown): LoupeError {
  if (typeof payload === 'object' && payload !== null) {
    const { code, message } = payload as Record<string, unknown>;
    if (isErrorCode(code) && typeof message === 'string') return new LoupeError(code, message);
  }
  return new LoupeError('INTERNAL', 'The other side sent an error Loupe does not understand.');
}
