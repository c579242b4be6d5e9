// The core checks behind folder pickers and browser mode's export download: a project is never
// created inside another one, a new folder is one plain name inside the listed folder, a picker
// says why a folder looks empty and starts where the last one for its purpose ended, and the
// download route serves only a completed export's own files, as a zip, to whoever holds the token.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { LoupeError } from '../../../src/shared/errors';
import { folderNameProblem } from '../../../src/shared/folder-names';
import { exportDownloadPath, parseExportDownloadPath } from '../../../src/shared/download-url';
import { attachmentHeader } from '../../../src/main/services/export/download';
import { enclosingProject, Project } from '../../../src/main/store/project';
import { startServer } from '../../../src/main/transport/server';
import { client } from '../../api/api-helpers';
import { makeStudio, onCleanup, tempDir } from '../../helpers';

const rejects = async (p: Promise<unknown>, code: string, message?: RegExp) => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LoupeError);
  expect((err as LoupeError).code).toBe(code);
  if (message) expect((err as LoupeError).message).toMatch(message);
};

describe('a project inside a project', () => {
  it('is refused by Project.create, at any depth, and leaves nothing behind', () => {
    const outer = path.join(tempDir(), 'outer.loupe');
    Project.create(outer).close();
    for (const inner of [path.join(outer, 'inner.loupe'), path.join(outer, 'media', 'a', 'b.loupe')]) {
      expect(() => Project.create(inner)).toThrow(/is inside the Loupe project .*outer\.loupe: a project cannot hold another project/);
      expect(fs.existsSync(inner)).toBe(false);
    }
    expect(enclosingProject(path.join(outer, 'x', 'y'))).toBe(outer);
    expect(enclosingProject(outer)).toBeNull();
    expect(enclosingProject(path.dirname(outer))).toBeNull();
  });

  it('is refused through a link into the project too', () => {
    const base = tempDir();
    const outer = path.join(base, 'outer.loupe');
    Project.create(outer).close();
    fs.symlinkSync(path.join(outer, 'media'), path.join(base, 'link'));
    expect(enclosingProject(path.join(base, 'link', 'new.loupe'))).toBe(outer);
    expect(() => Project.create(path.join(base, 'link', 'new.loupe'))).toThrow(/inside the Loupe project/);
  });

  it('is refused by createProject over the API, which says so', async () => {
    const { api } = client(makeStudio());
    const outer = path.join(tempDir(), 'outer.loupe');
    await api.createProject({ path: outer });
    await api.closeProject();
    await rejects(api.createProject({ path: path.join(outer, 'inner.loupe') }), 'INVALID_PATH', /cannot hold another project/);
    await rejects(api.createProject({ path: outer }), 'ALREADY_EXISTS', /already a Loupe project/);
  });
});

describe('folder pickers', () => {
  it('validates a new folder name', () => {
    for (const ok of ['data', 'My photos', 'é-ü_1', 'a.b']) expect(folderNameProblem(ok), ok).toBeNull();
    for (const bad of ['', '  ', '.', '..', '.hidden', 'a/b', 'a\\b', '../x', 'x\u0000y', 'x\ny', 'a:b', 'trail.', ' lead', 'CON', 'nul.txt', 'x'.repeat(256)]) {
      expect(folderNameProblem(bad), JSON.stringify(bad)).not.toBeNull();
    }
  });

  it('creates a new folder only inside the listed folder', async () => {
    const { api } = client(makeStudio());
    const dir = tempDir();
    expect(await api.createFolder({ parent: dir, name: 'Birds' })).toBe(path.join(dir, 'Birds'));
    expect(fs.statSync(path.join(dir, 'Birds')).isDirectory()).toBe(true);
    await rejects(api.createFolder({ parent: dir, name: 'Birds' }), 'ALREADY_EXISTS');
    for (const name of ['../escape', '..', 'a/b', '.ssh']) await rejects(api.createFolder({ parent: dir, name }), 'INVALID_INPUT');
    await rejects(api.createFolder({ parent: path.join(dir, 'missing'), name: 'x' }), 'NOT_FOUND');
    expect(fs.readdirSync(dir)).toEqual(['Birds']);
    expect(fs.existsSync(path.join(path.dirname(dir), 'escape'))).toBe(false);
  });

  it('counts the hidden folders it leaves out, and lists them when asked', async () => {
    const { api } = client(makeStudio());
    const dir = tempDir();
    for (const d of ['.cache', '.config', '.local', 'visible']) fs.mkdirSync(path.join(dir, d));
    fs.writeFileSync(path.join(dir, '.bashrc'), '');
    const plain = await api.listDirectory({ path: dir });
    expect(plain.entries.map((e) => e.name)).toEqual(['visible']);
    expect(plain.hiddenFolders).toBe(3);
    const all = await api.listDirectory({ path: dir, showHidden: true });
    expect(all.entries.filter((e) => e.kind === 'directory').map((e) => e.name)).toEqual(['.cache', '.config', '.local', 'visible']);
    expect(all.hiddenFolders).toBe(0);
  });

  it('says which project a listed folder or path belongs to', async () => {
    const { api } = client(makeStudio());
    const base = tempDir();
    const outer = path.join(base, 'outer.loupe');
    Project.create(outer).close();
    expect((await api.listDirectory({ path: base })).project).toBeNull();
    expect((await api.listDirectory({ path: outer })).project).toBe(outer);
    expect((await api.listDirectory({ path: path.join(outer, 'media') })).project).toBe(outer);
    expect(await api.pathInfo({ path: outer })).toMatchObject({ exists: true, isDirectory: true, isProject: true, empty: false, insideProject: null });
    expect(await api.pathInfo({ path: path.join(outer, 'x.loupe') })).toMatchObject({ exists: false, isProject: false, insideProject: outer });
    expect(await api.pathInfo({ path: path.join(base, 'nope') })).toMatchObject({ exists: false, isDirectory: false, empty: false, insideProject: null });
  });

  it('starts where the last picker for the same purpose ended, else home', async () => {
    const studio = makeStudio();
    const { api } = client(studio);
    expect(await api.lastFolder({ purpose: 'import' })).toBe(os.homedir());
    const dir = tempDir();
    await api.rememberFolder({ purpose: 'import', path: dir });
    expect(await api.lastFolder({ purpose: 'import' })).toBe(dir);
    expect(await api.lastFolder({ purpose: 'export' })).toBe(os.homedir());
    // Opening or creating a project remembers where projects live.
    const root = path.join(tempDir(), 'p.loupe');
    await api.createProject({ path: root });
    expect(await api.lastFolder({ purpose: 'projects' })).toBe(path.dirname(root));
    // A folder that went away is not offered.
    fs.rmSync(dir, { recursive: true });
    expect(await api.lastFolder({ purpose: 'import' })).toBe(os.homedir());
  });
});

function get(port: number, rawPath: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, headers: { Host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('export download route', () => {
  const TOKEN = 'download-token-0123456789';

  async function setup() {
    const studio = makeStudio();
    const rendererDir = tempDir();
    fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>Loupe</title>');
    const server = await startServer({ studio, rendererDir, token: TOKEN });
    onCleanup(() => server.close());
    const base = tempDir();
    fs.writeFileSync(path.join(base, 'secret.txt'), 'TOP SECRET');
    const session = studio.createSession(() => {});
    const project = studio.acquire(path.join(base, 'p.loupe'), session, {});
    session.setProject(project);
    project.db
      .prepare(`INSERT INTO runs (id, status, arch, backend, seed, plan, config, classes, created_at) VALUES (1, 'completed', 'mlp', 'cpu', 1, '{}', '{}', '[]', 0)`)
      .run();
    // An export folder as Loupe writes it, plus things it never writes.
    const folder = path.join(base, 'out', 'pets run 1');
    fs.mkdirSync(path.join(folder, 'samples', 'web'), { recursive: true });
    const onnx = Buffer.alloc(300_000, 7);
    fs.writeFileSync(path.join(folder, 'model.onnx'), onnx);
    fs.writeFileSync(path.join(folder, 'labels.txt'), 'cat\ndog\n');
    fs.writeFileSync(path.join(folder, 'preprocess.json'), '{}');
    fs.writeFileSync(path.join(folder, 'model-card.md'), '# card');
    fs.writeFileSync(path.join(folder, 'samples', 'predict.py'), 'print(1)');
    fs.writeFileSync(path.join(folder, 'notes.txt'), 'not an export file');
    fs.symlinkSync(path.join(base, 'secret.txt'), path.join(folder, 'samples', 'predict.mjs'));
    const add = (p: string, status: string) =>
      Number(project.db.prepare(`INSERT INTO exports (run_id, format, path, status, created_at) VALUES (1, 'onnx', ?, ?, 0)`).run(p, status).lastInsertRowid);
    const ids = {
      done: add(folder, 'completed'),
      failed: add(folder, 'failed'),
      // A crafted row pointing at a folder that is not an export.
      foreign: add(base, 'completed'),
      relative: add('out/pets run 1', 'completed'),
    };
    const auth = { Cookie: `loupe_token_${server.port}=${TOKEN}` };
    return { port: server.port, project, ids, auth, onnx };
  }

  it('streams a completed export as a zip of its own files', async () => {
    const { port, project, ids, auth, onnx } = await setup();
    const reply = await get(port, exportDownloadPath(project.key, ids.done), auth);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/zip');
    expect(reply.headers['content-disposition']).toBe(`attachment; filename="pets-run-1.zip"; filename*=UTF-8''pets-run-1.zip`);
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.body.subarray(0, 4)).toEqual(Buffer.from('PK\x03\x04', 'latin1'));
    const entries = unzipSync(new Uint8Array(reply.body));
    expect(Object.keys(entries).sort()).toEqual(
      ['labels.txt', 'model-card.md', 'model.onnx', 'preprocess.json', 'samples/predict.py'].map((f) => `pets-run-1/${f}`),
    );
    expect(Buffer.from(entries['pets-run-1/model.onnx']).equals(onnx)).toBe(true);
    expect(new TextDecoder().decode(entries['pets-run-1/labels.txt'])).toBe('cat\ndog\n');
    expect(reply.body.toString('latin1')).not.toContain('TOP SECRET');
    const head = await get(port, exportDownloadPath(project.key, ids.done), auth, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it('refuses it without the token, from another site, and for anything but a completed export', async () => {
    const { port, project, ids, auth } = await setup();
    const url = exportDownloadPath(project.key, ids.done);
    expect((await get(port, url)).status).toBe(401);
    expect((await get(port, url, { Cookie: `loupe_token_${port}=wrong` })).status).toBe(401);
    expect((await get(port, url, { ...auth, Origin: 'https://evil.example' })).status).toBe(403);
    expect((await get(port, url, { ...auth, Host: `evil.example:${port}` })).status).toBe(421);
    for (const id of [ids.failed, ids.foreign, ids.relative, 999]) {
      expect((await get(port, exportDownloadPath(project.key, id), auth)).status, `export ${id}`).toBe(404);
    }
    expect((await get(port, exportDownloadPath('0'.repeat(24), ids.done), auth)).status).toBe(404);
    expect((await get(port, url, { ...auth }, 'POST')).status).toBe(405);
  });

  it('matches the raw path exactly, whatever the spelling', async () => {
    const { port, project, ids, auth } = await setup();
    const key = project.key;
    for (const p of [
      `/exports/${key}/${ids.done}`,
      `/exports/${key}/0${ids.done}.zip`,
      `/exports/${key}/${ids.done}.zip/..`,
      `/exports/${key}/..%2f${ids.done}.zip`,
      `/exports/${key}/%31.zip`,
      `/exports/${key.toUpperCase()}/${ids.done}.zip`,
      `/exports/${key}/-1.zip`,
      `/exports/../media/${key}`,
      `/exports/${key}/${ids.done}.zip%00`,
    ]) {
      const reply = await get(port, p, auth);
      expect([400, 403, 404], `${p} -> ${reply.status}`).toContain(reply.status);
    }
    expect(parseExportDownloadPath(`/exports/${key}/12.zip`)).toEqual({ key, exportId: 12 });
    expect(parseExportDownloadPath(`/exports/${key}/12.zip?x`)).toBeNull();
  });

  it('names the attachment safely', () => {
    expect(attachmentHeader('pets-run-1.zip')).toBe(`attachment; filename="pets-run-1.zip"; filename*=UTF-8''pets-run-1.zip`);
    expect(attachmentHeader(`chats "n" (1)'.zip`)).toBe(`attachment; filename="chats__n___1__.zip"; filename*=UTF-8''chats%20%22n%22%20%281%29%27.zip`);
    expect(attachmentHeader('été.zip')).toBe(`attachment; filename="_t_.zip"; filename*=UTF-8''%C3%A9t%C3%A9.zip`);
  });
});

describe('export zip stream', () => {
  it('waits for a slow reader without piling up listeners, and holds every byte', async () => {
    const { PassThrough } = await import('node:stream');
    const { writeExportZip } = await import('../../../src/main/services/export/download');
    const dir = tempDir();
    const big = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    fs.writeFileSync(path.join(dir, 'model.onnx'), big);
    const out = new PassThrough({ highWaterMark: 64 * 1024 });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const chunks: Buffer[] = [];
    const done = writeExportZip({ name: 'm', fileName: 'm.zip', files: [{ rel: 'model.onnx', file: path.join(dir, 'model.onnx') }] }, out);
    // Read slowly, so the writer has to wait for the stream to drain many times.
    for await (const chunk of out) {
      chunks.push(chunk as Buffer);
      await new Promise((r) => setImmediate(r));
    }
    await done;
    process.off('warning', onWarning);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    expect(out.listenerCount('drain')).toBe(0);
    expect(Buffer.from(unzipSync(new Uint8Array(Buffer.concat(chunks)))['m/model.onnx']).equals(big)).toBe(true);
  });
});
