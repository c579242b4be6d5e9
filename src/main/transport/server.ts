// Browser mode: the same renderer build and the same API as the desktop window, over HTTP and
// a WebSocket, on loopback only. A random token guards every request: the printed URL carries
// it once, the server trades it for an HttpOnly cookie and every later request (page, assets,
// media, WebSocket) must present it. Requests whose Host or Origin is not this server are
// refused, which also defeats DNS rebinding.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { LoupeError } from '../../shared/errors';
import { MAX_MESSAGE_BYTES } from '../../shared/protocol';
import type { Studio } from '../api/studio';
import { UPLOAD_ROUTE } from '../api/import-handlers';
import { UploadError } from '../services/import/uploads';
import { sendExportDownload } from './export-route';
import { resolveMediaUrlPath } from './media-route';
import { contentSecurityPolicy, SECURITY_HEADERS } from './security';
import { attachWebSocketApi } from './ws-api';

export interface ServerOptions {
  studio: Studio;
  /** The built renderer (index.html and assets). */
  rendererDir: string;
  port?: number;
  host?: string;
  /** Fixed token (tests); a random one otherwise. */
  token?: string;
}

export interface RunningServer {
  url: string;
  /** The URL to open, token included. */
  openUrl: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time token comparison (hashing first makes the lengths equal). */
export function tokensEqual(given: string | undefined | null, expected: string): boolean {
  if (typeof given !== 'string' || given.length === 0) return false;
  return timingSafeEqual(digest(given), digest(expected));
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { studio, rendererDir } = options;
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? randomBytes(32).toString('base64url');
  const indexHtml = path.join(rendererDir, 'index.html');
  if (!fs.existsSync(indexHtml)) {
    throw new LoupeError('NOT_FOUND', `The renderer is not built (${indexHtml} is missing). Run: npm run build`);
  }

  let allowedHosts = new Set<string>();
  let cookieName = 'loupe_token';

  const server = http.createServer();
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  const hostAllowed = (req: http.IncomingMessage) => allowedHosts.has(req.headers.host ?? '');
  const originAllowed = (req: http.IncomingMessage) => {
    const origin = req.headers.origin;
    if (origin === undefined) return true; // same-origin navigations and non-browser clients
    try {
      const url = new URL(origin);
      return url.protocol === 'http:' && allowedHosts.has(url.host);
    } catch {
      return false;
    }
  };
  const presentedToken = (req: http.IncomingMessage, url: URL) => {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) return auth.slice(7);
    return url.searchParams.get('token') ?? cookieValue(req.headers.cookie, cookieName);
  };

  const send = (
    res: http.ServerResponse,
    status: number,
    body: string | Buffer,
    headers: Record<string, string> = {},
  ) => {
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-store',
      ...headers,
    });
    res.end(body);
  };

  const sendFile = (res: http.ServerResponse, file: string, contentType: string, cache: string) => {
    const headers: Record<string, string> = {
      ...SECURITY_HEADERS,
      'Content-Type': contentType,
      'Cache-Control': cache,
    };
    if (contentType.startsWith('text/html')) headers['Content-Security-Policy'] = contentSecurityPolicy();
    const stream = fs.createReadStream(file);
    stream.once('open', () => {
      res.writeHead(200, headers);
      stream.pipe(res);
    });
    stream.once('error', () => {
      if (!res.headersSent) send(res, 404, 'Not found');
      else res.destroy();
    });
  };

  const serveStatic = (res: http.ServerResponse, pathname: string) => {
    if (pathname === '/' || pathname === '/index.html') {
      sendFile(res, indexHtml, STATIC_TYPES['.html'], 'no-store');
      return;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      send(res, 400, 'Bad path');
      return;
    }
    const file = path.resolve(rendererDir, '.' + decoded);
    const type = STATIC_TYPES[path.extname(file)];
    if (!file.startsWith(rendererDir + path.sep) || decoded.includes('\0') || !type) {
      send(res, 404, 'Not found');
      return;
    }
    // Vite's hashed asset names can be cached forever.
    sendFile(res, file, type, decoded.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-store');
  };

  const sendJson = (res: http.ServerResponse, status: number, value: unknown) =>
    send(res, status, JSON.stringify(value), { 'Content-Type': 'application/json; charset=utf-8' });

  const receiveUpload = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => {
    const uploadId = url.pathname.slice(UPLOAD_ROUTE.length);
    const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
    studio.uploads
      .receive(uploadId, url.searchParams.get('path') ?? '', req, Number.isFinite(declared) ? declared : null)
      .then(
        (stored) => sendJson(res, 201, stored),
        (err: unknown) => {
          const status = err instanceof UploadError ? err.status : 500;
          const error = err instanceof LoupeError ? err.toPayload() : { code: 'IO_ERROR', message: 'The file could not be stored.' };
          if (!(err instanceof LoupeError)) console.error('[loupe] upload failed:', err);
          // Stop reading a body we refuse; the client sees the answer and the connection closes.
          res.setHeader('Connection', 'close');
          sendJson(res, status, { error });
          req.resume();
        },
      );
  };

  server.on('request', (req, res) => {
    if (!hostAllowed(req)) return send(res, 421, 'Loupe answers only to its own address.');
    if (!originAllowed(req)) return send(res, 403, 'Requests from other sites are refused.');
    let url: URL;
    try {
      // Prefixing keeps a path like //evil.example from being read as a host.
      url = new URL(`http://loupe${req.url ?? '/'}`);
    } catch {
      return send(res, 400, 'Bad request');
    }
    const given = presentedToken(req, url);
    if (!tokensEqual(given, token)) {
      return send(
        res,
        401,
        'This Loupe server needs its access token. Open the URL that `loupe serve` printed.',
      );
    }
    // Dropped files, streamed: POST /upload/<uploadId>?path=<relative path>.
    if (url.pathname.startsWith(UPLOAD_ROUTE)) {
      if (req.method !== 'POST') return send(res, 405, 'Method not allowed', { Allow: 'POST' });
      return receiveUpload(req, res, url);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'Method not allowed');

    // A token in the query string is traded for a cookie, and the URL cleaned, so it does not
    // linger in history, bookmarks or screenshots.
    if (url.searchParams.has('token')) {
      url.searchParams.delete('token');
      return send(res, 303, 'See other', {
        Location: url.pathname + url.search,
        'Set-Cookie': `${cookieName}=${token}; HttpOnly; SameSite=Strict; Path=/`,
      });
    }

    // The raw request path is matched exactly, before any decoding or normalisation.
    const rawPath = (req.url ?? '/').split('?')[0];
    if (rawPath.startsWith('/media/')) {
      try {
        const media = resolveMediaUrlPath(studio, rawPath.slice(1));
        return sendFile(res, media.file, media.contentType, 'private, max-age=31536000, immutable');
      } catch (err) {
        const code = err instanceof LoupeError ? err.code : 'INTERNAL';
        return send(res, code === 'NOT_FOUND' ? 404 : 403, code === 'NOT_FOUND' ? 'Not found' : 'Forbidden');
      }
    }
    // A finished export as one zip (its folder is on this machine's disk, not the browser's).
    if (rawPath.startsWith('/exports/')) {
      return sendExportDownload(studio, rawPath, req, res, (status, text) => send(res, status, text));
    }
    return serveStatic(res, url.pathname);
  });

  server.on('upgrade', (req, socket, head) => {
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return refuse(400, 'Bad Request');
    }
    if (!hostAllowed(req)) return refuse(421, 'Misdirected Request');
    // Browsers always send Origin on WebSocket handshakes; require it and require it to be us.
    if (req.headers.origin === undefined || !originAllowed(req)) return refuse(403, 'Forbidden');
    if (!tokensEqual(presentedToken(req, url), token)) return refuse(401, 'Unauthorized');
    if (url.pathname !== '/api') return refuse(404, 'Not Found');
    wss.handleUpgrade(req, socket, head, (ws) => attachWebSocketApi(ws, studio));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  cookieName = `loupe_token_${port}`;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  allowedHosts = new Set([`${hostPart}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]);
  const base = `http://${hostPart}:${port}`;

  return {
    url: base + '/',
    openUrl: `${base}/?token=${token}`,
    port,
    token,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
