// Browser mode's guards: token on every request and WebSocket, foreign Origin and Host
// refused, and media requests that can never reach a file outside the open project.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { tokensEqual, startServer } from '../../src/main/transport/server';
import { makeStudio, onCleanup, tempDir } from '../helpers';

const TOKEN = 'test-token-0123456789';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A raw request: the path is sent exactly as given, with no normalisation by a URL parser. */
function request(port: number, rawPath: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, headers: { Host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('latin1') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function requestWith(port: number, method: string, rawPath: string, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, headers: { Host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('latin1') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function upgrade(port: number, headers: Record<string, string>, query = ''): Promise<number | 'open'> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api${query}`, { headers });
    ws.on('open', () => {
      ws.close();
      resolve('open');
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
    ws.on('error', () => {});
  });
}

async function setup() {
  const studio = makeStudio();
  const rendererDir = tempDir();
  fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>Loupe</title>');
  fs.mkdirSync(path.join(rendererDir, 'assets'));
  fs.writeFileSync(path.join(rendererDir, 'assets', 'app.js'), 'console.log(1)');
  const server = await startServer({ studio, rendererDir, token: TOKEN });
  onCleanup(() => server.close());

  // An open project with one image whose media file exists, and a secret beside the project.
  const outside = tempDir();
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'TOP SECRET');
  const session = studio.createSession(() => {});
  const project = studio.acquire(path.join(outside, 'p.loupe'), session, {});
  session.setProject(project);
  const bytes = Buffer.from('fake-jpeg-bytes');
  const hash = createHash('sha256').update(bytes).digest('hex');
  fs.mkdirSync(path.join(project.root, 'media', hash.slice(0, 2)), { recursive: true });
  fs.writeFileSync(path.join(project.root, 'media', hash.slice(0, 2), `${hash}.jpg`), bytes);
  project.db
    .prepare(
      `INSERT INTO images (hash, ext, format, width, height, channels, bytes, original_name, split, added_at)
       VALUES (?, 'jpg', 'jpeg', 1, 1, 3, ?, 'x.jpg', 'train', 0)`,
    )
    .run(hash, bytes.length);
  const auth = { Authorization: `Bearer ${TOKEN}` };
  return { server, port: server.port, project, hash, auth, outside };
}

describe('browser mode', () => {
  it('binds to loopback only', async () => {
    const { server } = await setup();
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
  });

  it('refuses every kind of request without the token', async () => {
    const { port, project, hash } = await setup();
    for (const p of ['/', '/index.html', '/assets/app.js', `/media/${project.key}/image/${hash}`]) {
      expect((await request(port, p)).status).toBe(401);
      expect((await request(port, p, { Authorization: 'Bearer wrong' })).status).toBe(401);
      expect((await request(port, `${p}?token=wrong`)).status).toBe(401);
      expect((await request(port, p, { Cookie: `loupe_token_${port}=wrong` })).status).toBe(401);
    }
    expect(await upgrade(port, { Origin: `http://127.0.0.1:${port}` })).toBe(401);
    expect(await upgrade(port, { Origin: `http://127.0.0.1:${port}` }, '?token=nope')).toBe(401);
  });

  it('accepts the token, trades it for an HttpOnly cookie and cleans the URL', async () => {
    const { port, auth } = await setup();
    const first = await request(port, `/?token=${TOKEN}`);
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe('/');
    const cookie = String(first.headers['set-cookie']);
    expect(cookie).toMatch(new RegExp(`^loupe_token_${port}=${TOKEN}; HttpOnly; SameSite=Strict`));
    const page = await request(port, '/', { Cookie: `loupe_token_${port}=${TOKEN}` });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
    expect(page.headers['access-control-allow-origin']).toBeUndefined();
    expect((await request(port, '/assets/app.js', auth)).status).toBe(200);
    expect(await upgrade(port, { Origin: `http://127.0.0.1:${port}`, Cookie: `loupe_token_${port}=${TOKEN}` })).toBe('open');
  });

  it('refuses foreign Origins and Hosts, including DNS-rebinding hosts', async () => {
    const { port, auth } = await setup();
    expect((await request(port, '/', { ...auth, Origin: 'https://evil.example' })).status).toBe(403);
    expect((await request(port, '/', { ...auth, Origin: `http://127.0.0.1:${port + 1}` })).status).toBe(403);
    expect((await request(port, '/', { ...auth, Host: `evil.example:${port}` })).status).toBe(421);
    expect((await request(port, '/', { ...auth, Host: 'localhost' })).status).toBe(421);
    expect(await upgrade(port, { ...auth, Origin: 'https://evil.example' })).toBe(403);
    expect(await upgrade(port, { ...auth, Origin: 'null' })).toBe(403);
    expect(await upgrade(port, { ...auth, Origin: `http://127.0.0.1:${port}`, Host: `rebind.example:${port}` })).toBe(421);
    // A WebSocket without an Origin is not a browser page of ours.
    expect(await upgrade(port, { ...auth })).toBe(403);
    expect(await upgrade(port, { ...auth, Origin: `http://localhost:${port}` })).toBe('open');
  });

  it('serves an open project’s media by hash', async () => {
    const { port, project, hash, auth } = await setup();
    const ok = await request(port, `/media/${project.key}/image/${hash}`, auth);
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('image/jpeg');
    expect(ok.body).toBe('fake-jpeg-bytes');
    // A small image is its own thumbnail.
    expect((await request(port, `/media/${project.key}/thumb/${hash}`, auth)).body).toBe('fake-jpeg-bytes');
    expect((await request(port, `/media/${project.key}/image/${'0'.repeat(64)}`, auth)).status).toBe(404);
    expect((await request(port, `/media/${'0'.repeat(24)}/image/${hash}`, auth)).status).toBe(404);
  });

  it('refuses media path traversal in every spelling', async () => {
    const { port, project, hash, auth, outside } = await setup();
    const key = project.key;
    const attempts = [
      `/media/${key}/image/../../../secret.txt`,
      `/media/${key}/../../secret.txt`,
      `/media/${key}/image/..%2f..%2f..%2fsecret.txt`,
      `/media/${key}/image/%2e%2e%2f%2e%2e%2fsecret.txt`,
      `/media/${key}/image/%252e%252e%252fsecret.txt`,
      `/media/${key}/image/..%5c..%5csecret.txt`,
      `/media/${key}/image/${hash}/../../../../secret.txt`,
      `/media/${key}/image/${path.join(outside, 'secret.txt')}`,
      `/media/${key}/image/%2F${outside.slice(1)}%2Fsecret.txt`,
      `/media//etc/passwd`,
      `/media/${key}/image/${hash}%00.txt`,
      `/media/${key}/image/${hash.toUpperCase()}`,
      `/..%2f..%2f..%2fetc/passwd`,
      `/%2e%2e/%2e%2e/etc/passwd`,
      `//etc/passwd`,
      `/assets/../../../../etc/passwd`,
    ];
    for (const p of attempts) {
      const reply = await request(port, p, auth);
      expect([400, 403, 404], `${p} -> ${reply.status}`).toContain(reply.status);
      expect(reply.body).not.toContain('TOP SECRET');
      expect(reply.body).not.toContain('root:');
    }
  });

  it('does not follow a symlink planted in media/ out of the project', async () => {
    const { port, project, auth, outside } = await setup();
    const evil = createHash('sha256').update('evil').digest('hex');
    fs.mkdirSync(path.join(project.root, 'media', evil.slice(0, 2)), { recursive: true });
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(project.root, 'media', evil.slice(0, 2), `${evil}.jpg`));
    project.db
      .prepare(
        `INSERT INTO images (hash, ext, format, width, height, channels, bytes, original_name, split, added_at)
         VALUES (?, 'jpg', 'jpeg', 1, 1, 3, 1, 'e.jpg', 'train', 0)`,
      )
      .run(evil);
    const reply = await request(port, `/media/${project.key}/image/${evil}`, auth);
    expect(reply.status).toBe(404);
    expect(reply.body).not.toContain('TOP SECRET');
  });

  it('cannot be reached on any other address of this machine by default', async () => {
    const { port } = await setup();
    const others = Object.values(os.networkInterfaces())
      .flat()
      .filter((a): a is os.NetworkInterfaceInfo => a !== undefined && !a.internal && a.family === 'IPv4')
      .map((a) => a.address);
    for (const address of others) {
      const reached = await new Promise<boolean>((resolve) => {
        const socket = net.connect({ host: address, port }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.on('error', () => resolve(false));
      });
      expect(reached, `${address}:${port}`).toBe(false);
    }
  });

  it('never sends CORS headers, whatever is asked, and needs the token for uploads too', async () => {
    const { port, project, hash, auth } = await setup();
    const evil = { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' };
    const replies = [
      await request(port, '/', { ...auth, Origin: `http://127.0.0.1:${port}` }),
      await request(port, `/media/${project.key}/image/${hash}`, auth),
      await request(port, '/assets/app.js', { ...evil, ...auth }),
      await request(port, '/', evil),
      await request(port, '/nope', auth),
      await requestWith(port, 'OPTIONS', '/', { ...evil, ...auth }),
      await requestWith(port, 'OPTIONS', '/', { ...auth, Origin: `http://127.0.0.1:${port}`, 'Access-Control-Request-Method': 'POST' }),
    ];
    for (const reply of replies) {
      for (const header of Object.keys(reply.headers)) expect(header).not.toMatch(/^access-control-/);
    }
    expect(replies[3].status).toBe(403);
    expect(replies[5].status).toBe(403);
    // The upload route: token first, like everything else.
    expect((await requestWith(port, 'POST', `/upload/${'a'.repeat(32)}?path=x.png`, {})).status).toBe(401);
    expect((await requestWith(port, 'POST', `/upload/${'a'.repeat(32)}?path=x.png`, { ...auth, Origin: 'https://evil.example' })).status).toBe(403);
  });

  it('makes a long random token when none is given', async () => {
    const studio = makeStudio();
    const rendererDir = tempDir();
    fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html>');
    const a = await startServer({ studio, rendererDir });
    const b = await startServer({ studio, rendererDir });
    onCleanup(() => a.close());
    onCleanup(() => b.close());
    expect(a.token).toMatch(/^[\w-]{43}$/); // 32 random bytes
    expect(a.token).not.toBe(b.token);
    expect(a.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('compares tokens in constant time and never accepts an empty one', () => {
    expect(tokensEqual(TOKEN, TOKEN)).toBe(true);
    expect(tokensEqual(TOKEN.slice(0, -1), TOKEN)).toBe(false);
    expect(tokensEqual('', TOKEN)).toBe(false);
    expect(tokensEqual(undefined, TOKEN)).toBe(false);
  });
});
