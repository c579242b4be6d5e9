// Browser mode's drag-and-drop: files streamed to POST /upload/<id>?path=..., guarded like every
// other request, stored under sanitised relative paths inside the project, then imported with
// their folders (class folders give labels).

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ImportReport, JobInfo } from '../../src/shared/types';
import { uploadsDir } from '../../src/main/services/import/paths';
import { MAX_UPLOAD_FILE_BYTES, sanitizeUploadPath } from '../../src/main/services/import/uploads';
import { startServer } from '../../src/main/transport/server';
import { makeStudio, onCleanup, tempDir } from '../helpers';
import { client, finished } from '../api/api-helpers';
import { image } from '../services/import/import-helpers';

const TOKEN = 'upload-test-token-0123';

interface Reply {
  status: number;
  body: string;
}

function post(port: number, rawPath: string, body: Buffer | null, headers: Record<string, string> = {}, method = 'POST'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: rawPath, method, headers: { Host: `127.0.0.1:${port}`, ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

async function setup() {
  const studio = makeStudio();
  const rendererDir = tempDir();
  fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html>');
  const server = await startServer({ studio, rendererDir, token: TOKEN });
  onCleanup(() => server.close());
  const c = client(studio);
  const summary = await c.api.createProject({ path: path.join(tempDir(), 'drop.loupe') });
  const { uploadId, url, maxFileBytes } = await c.api.beginUpload();
  expect(url).toBe(`/upload/${uploadId}`);
  expect(maxFileBytes).toBe(MAX_UPLOAD_FILE_BYTES);
  const auth = { Authorization: `Bearer ${TOKEN}`, Origin: `http://127.0.0.1:${server.port}` };
  const send = (rel: string, body: Buffer, headers: Record<string, string> = auth) =>
    post(server.port, `${url}?path=${encodeURIComponent(rel)}`, body, headers);
  return { studio, c, port: server.port, uploadId, url, auth, send, root: summary.path };
}

describe('upload route', () => {
  it('refuses requests without the token, from other origins and hosts, and other methods', async () => {
    const { port, url, auth, send } = await setup();
    const png = await image('png');
    expect((await send('a.png', png, {})).status).toBe(401);
    expect((await send('a.png', png, { Authorization: 'Bearer nope' })).status).toBe(401);
    expect((await send('a.png', png, { ...auth, Origin: 'https://evil.example' })).status).toBe(403);
    expect((await send('a.png', png, { ...auth, Host: `evil.example:${port}` })).status).toBe(421);
    expect((await post(port, `${url}?path=a.png`, null, auth, 'GET')).status).toBe(405);
    expect((await post(port, `/upload/${'0'.repeat(32)}?path=a.png`, png, auth)).status).toBe(404);
    expect([404, 405]).toContain((await post(port, '/upload/../../etc?path=a.png', png, auth)).status);
  });

  it('stores files under their relative paths and refuses paths that could escape or mislead', async () => {
    const { send, root, uploadId, port, auth } = await setup();
    const png = await image('png');
    const ok = await send('cats/tabby/a.png', png);
    expect(ok.status).toBe(201);
    expect(JSON.parse(ok.body)).toEqual({ path: 'cats/tabby/a.png', bytes: png.length });
    const staged = path.join(uploadsDir(root), uploadId);
    expect(fs.readFileSync(path.join(staged, 'cats', 'tabby', 'a.png'))).toEqual(png);

    for (const bad of ['../escape.png', 'cats/../../escape.png', '/etc/escape.png', 'C:\\escape.png', '..\\escape.png', 'a/./b.png', '', 'a//b.png', 'new\nline.png', 'gpj.\u202Eexe', 'a:b.png', 'con.png', 'trailing.']) {
      const reply = await send(bad, png);
      expect(reply.status, JSON.stringify(bad)).toBe(400);
      expect(JSON.parse(reply.body).error.code).toBe('INVALID_PATH');
    }
    // Percent-encoded dots decode to "..", which is refused the same way.
    const encoded = await post(port, `/upload/${uploadId}?path=%2e%2e%2fescape.png`, png, auth);
    expect(encoded.status).toBe(400);
    expect(fs.readdirSync(path.dirname(root)).filter((n) => n.includes('escape'))).toEqual([]);
    expect(fs.existsSync(path.join(uploadsDir(root), 'escape.png'))).toBe(false);
  });

  it('refuses a file over the size limit before reading it', async () => {
    const { send, auth } = await setup();
    const reply = await send('big.png', Buffer.alloc(10), { ...auth, 'Content-Length': String(MAX_UPLOAD_FILE_BYTES + 1) });
    expect(reply.status).toBe(413);
  });

  it('imports the upload with its folders as classes, shown relative, and removes the staging folder', async () => {
    const { c, send, uploadId, root } = await setup();
    expect((await send('pets/cat/1.png', await image('png', { seed: 1 }))).status).toBe(201);
    expect((await send('pets/cat/2.jpg', await image('jpeg', { seed: 2 }))).status).toBe(201);
    expect((await send('pets/dog/1.webp', await image('webp', { seed: 3 }))).status).toBe(201);
    expect((await send('pets/dog/broken.jpg', Buffer.from('not really'))).status).toBe(201);
    const { jobId } = await c.api.importUpload({ uploadId });
    const job = (await finished(c, jobId)) as JobInfo;
    const report = job.result as ImportReport;
    expect(report).toMatchObject({ status: 'completed', imported: 3, createdClasses: ['cat', 'dog'] });
    expect(report.skipped).toEqual([{ path: 'pets/dog/broken.jpg', reason: expect.stringMatching(/Not an image/) }]);
    expect(report.sources[0]).toMatch(/^Dropped files/);
    expect(fs.existsSync(path.join(uploadsDir(root), uploadId))).toBe(false);
    // The upload is over: more files for it are refused.
    expect((await send('late.png', await image('png', { seed: 9 }))).status).toBe(404);
  });
});

describe('upload paths', () => {
  it('keeps ordinary relative paths and splits them into segments', () => {
    expect(sanitizeUploadPath('cats/tabby 1/IMG_0001.JPG')).toEqual(['cats', 'tabby 1', 'IMG_0001.JPG']);
    expect(sanitizeUploadPath('chats\\été.png')).toEqual(['chats', 'été.png']);
  });
});
