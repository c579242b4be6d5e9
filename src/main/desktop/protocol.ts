// The `loupe://` protocol: `loupe://app/…` serves the built renderer, `loupe://media/…` serves
// images of open projects. Neither can be made to read a file outside its own folder.

import { protocol } from 'electron';
import fs from 'node:fs';
import path from 'node:path';
import { LoupeError } from '../../shared/errors';
import type { Studio } from '../api/studio';
import { contentSecurityPolicy, SECURITY_HEADERS } from '../transport/security';
import { resolveMediaUrlPath } from '../transport/media-route';
import { APP_SCHEME } from './policy';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

/** Must run before the app is ready. */
export function registerSchemePrivileges(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } },
  ]);
}

function fail(status: number): Response {
  return new Response(null, { status, headers: SECURITY_HEADERS });
}

export function handleProtocol(studio: Studio, rendererDir: string): void {
  protocol.handle(APP_SCHEME, (request) => {
    const url = new URL(request.url);
    if (url.host === 'app') {
      let rel: string;
      try {
        rel = decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname);
      } catch {
        return fail(400); // malformed percent-encoding
      }
      if (rel.includes('\0')) return fail(400);
      const file = path.resolve(rendererDir, '.' + rel);
      const type = TYPES[path.extname(file)];
      if (!file.startsWith(rendererDir + path.sep) || !type || !fs.existsSync(file)) return fail(404);
      const headers: Record<string, string> = { ...SECURITY_HEADERS, 'Content-Type': type };
      if (type.startsWith('text/html')) headers['Content-Security-Policy'] = contentSecurityPolicy();
      return new Response(fs.readFileSync(file), { headers });
    }
    if (url.host === 'media') {
      try {
        // The path is matched exactly against media/<key>/<kind>/<sha256>.
        const media = resolveMediaUrlPath(studio, 'media' + url.pathname);
        return new Response(fs.readFileSync(media.file), {
          headers: { ...SECURITY_HEADERS, 'Content-Type': media.contentType, 'Cache-Control': 'private, max-age=31536000, immutable' },
        });
      } catch (err) {
        return fail(err instanceof LoupeError && err.code === 'NOT_FOUND' ? 404 : 403);
      }
    }
    return fail(404);
  });
}
