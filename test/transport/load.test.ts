// Load in browser mode: a gallery asks for a screenful of thumbnails at once. 50 concurrent
// thumbnail requests (and a few full images) are all served, whole and correct.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/main/transport/server';
import { resolveMediaRequest } from '../../src/main/store/media';
import { makeStudio, onCleanup, tempDir } from '../helpers';
import { folder, importInto } from '../services/import/import-helpers';

function get(port: number, rawPath: string, token: string): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: rawPath, agent: false, headers: { Host: `127.0.0.1:${port}`, Authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
  });
}

describe('browser mode under load', () => {
  it('serves 50 concurrent thumbnail requests (and full images) without an error', { timeout: 60_000 }, async () => {
    const layout: Record<string, number> = {};
    for (let i = 0; i < 50; i++) layout[`${['cat', 'dog'][i % 2]}/${i}.jpg`] = i + 1;
    // 320x320 photos: each gets a WebP thumbnail of its own.
    const src = await folder(layout, 'jpeg');
    for (const rel of Object.keys(layout)) {
      const file = path.join(src, rel);
      fs.writeFileSync(file, await sharp(fs.readFileSync(file)).resize(320, 320, { kernel: 'nearest' }).jpeg().toBuffer());
    }
    const studio = makeStudio();
    const session = studio.createSession(() => {});
    const project = studio.acquire(path.join(tempDir(), 'load.loupe'), session, {});
    session.setProject(project);
    expect((await importInto(project, [src])).imported).toBe(50);
    const hashes = project.db.prepare('SELECT hash FROM images ORDER BY id').pluck().all() as string[];

    const rendererDir = tempDir();
    fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html>');
    const server = await startServer({ studio, rendererDir, token: 'load-token-0123456789' });
    onCleanup(() => server.close());

    const requests = [
      ...hashes.map((h) => ({ kind: 'thumb', hash: h })),
      ...hashes.slice(0, 10).map((h) => ({ kind: 'image', hash: h })),
    ];
    const t0 = performance.now();
    const replies = await Promise.all(requests.map((r) => get(server.port, `/media/${project.key}/${r.kind}/${r.hash}`, server.token)));
    const ms = performance.now() - t0;
    replies.forEach((reply, i) => {
      const { kind, hash } = requests[i];
      expect(reply.status, `${kind} ${hash}`).toBe(200);
      expect(reply.type).toBe(kind === 'thumb' ? 'image/webp' : 'image/jpeg');
      expect(reply.body.equals(fs.readFileSync(resolveMediaRequest(project, `${kind}/${hash}`).file))).toBe(true);
    });
    console.log(`[figures] ${requests.length} concurrent media requests (50 thumbnails) served in ${ms.toFixed(0)} ms`);
  });
});
