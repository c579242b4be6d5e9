// The one place a call from outside turns into a method call: name checked against the
// contract, parameters validated by the contract's schema, errors turned into data.
// The IPC and WebSocket adapters are both built on this.

import { isMethodName, parseParams, type LoupeApi } from '../../shared/api';
import { LoupeError, type ErrorPayload } from '../../shared/errors';
import type { Envelope } from '../../shared/protocol';
import { SchemaError } from '../../shared/schema';

/** LOUPE_TRACE=1 logs every call's duration to stderr. */
const trace = process.env.LOUPE_TRACE === '1';

export async function dispatch(api: LoupeApi, method: unknown, params: unknown): Promise<Envelope> {
  if (trace) {
    const t0 = performance.now();
    const result = await dispatchUntraced(api, method, params);
    process.stderr.write(`[loupe] ${String(method)} ${(performance.now() - t0).toFixed(2)} ms ${result.ok ? 'ok' : result.error.code}\n`);
    return result;
  }
  return dispatchUntraced(api, method, params);
}

async function dispatchUntraced(api: LoupeApi, method: unknown, params: unknown): Promise<Envelope> {
  if (!isMethodName(method)) {
    const name = typeof method === 'string' ? method.slice(0, 100) : typeof method;
    return { ok: false, error: { code: 'UNKNOWN_METHOD', message: `Unknown method "${name}".` } };
  }
  try {
    const parsed = parseParams(method, params);
    const fn = api[method] as (p: unknown) => Promise<unknown>;
    const value = await fn(parsed);
    return { ok: true, value: value ?? null };
  } catch (err) {
    return { ok: false, error: toErrorPayload(err) };
  }
}

/** Maps anything thrown by a service to an error a person can act on. */
export function toErrorPayload(err: unknown): ErrorPayload {
  if (err instanceof LoupeError) return err.toPayload();
  if (err instanceof SchemaError) return { code: 'BAD_REQUEST', message: `Invalid parameters: ${err.message}.` };
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ENOSPC' || code === 'SQLITE_FULL') {
    return { code: 'DISK_FULL', message: 'The disk is full. Free some space and try again; nothing was lost.' };
  }
  if (code === 'EROFS' || code === 'SQLITE_READONLY' || code === 'EACCES' || code === 'EPERM') {
    return { code: 'READ_ONLY', message: `Loupe may not write here: ${message}` };
  }
  if (typeof code === 'string' && code.startsWith('E')) return { code: 'IO_ERROR', message };
  console.error('[loupe] internal error:', err);
  return { code: 'INTERNAL', message: `Something went wrong inside Loupe: ${message}` };
}
