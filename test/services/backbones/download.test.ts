// Content-addressed backbones (a small synthetic ONNX file, never real weights): downloading from
// mirrors in order when one is broken (errors, wrong bytes, cut mid-file), resuming a .part with a
// Range request, refusing and deleting a file that is not the registry's, saying what each
// mirror did when all fail; and an official file fetched by hand recognised by its sha256 as
// that registry backbone (verified), found again, listed with its facts and measured speeds.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/main/cli/index';
import { downloadCopy } from '../../../src/main/services/backbones/download';
import { fileSha256, listBackbones, resolveBackbone } from '../../../src/main/services/backbones/locate';
import { loadRegistry, locatedCopies } from '../../../src/main/services/backbones/registry';
import { addBackbone } from '../../../src/main/services/backbones/service';
import { recordSpeed } from '../../../src/main/services/backbones/speed';
import { tempDir } from '../../helpers';
import { ONNX_FILE, ONNX_ID, serveFolder, writeOnnxRegistry, writeTinyOnnx, type FileServer } from './backbone-helpers';

const saved = { ...process.env };
let zoo: string;
let official: string;
let good: FileServer;
let failing: FileServer;
let wrong: FileServer;
let refused: string;

/** A url nothing listens on (a server started and closed): connections are refused. */
async function deadUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/`;
}

beforeAll(async () => {
  // Made once for the whole file (tempDir's folders go after each test).
  zoo = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-zoo-'));
  official = path.join(zoo, ONNX_FILE);
  writeTinyOnnx(official, 3);
  // A mirror serving another file of the same size under the same name.
  const other = path.join(zoo, 'wrong');
  fs.mkdirSync(other);
  const bytes = fs.readFileSync(official);
  bytes[bytes.length - 9] ^= 0x5a;
  fs.writeFileSync(path.join(other, ONNX_FILE), bytes);
  [good, failing, wrong] = await Promise.all([serveFolder(zoo), serveFolder(zoo, { status: 500 }), serveFolder(other)]);
  refused = await deadUrl();
});

afterAll(async () => {
  await Promise.all([good.close(), failing.close(), wrong.close()]);
  fs.rmSync(zoo, { recursive: true, force: true });
  process.env = { ...saved };
});

/** A fresh app data folder and backbone folder, and a registry serving the file from `mirrors`. */
function setUp(mirrors: string[]): { home: string; dir: string; target: string } {
  const home = tempDir('loupe-home-');
  const dir = tempDir('loupe-backbones-');
  const registry = path.join(tempDir('loupe-registry-'), 'backbones.json');
  writeOnnxRegistry(registry, official, mirrors);
  process.env.LOUPE_HOME = home;
  process.env.LOUPE_BACKBONE_DIR = dir;
  process.env.LOUPE_BACKBONE_REGISTRY = registry;
  return { home, dir, target: path.join(home, 'backbones', ONNX_ID, 'official', ONNX_FILE) };
}

const entry = () => loadRegistry()[0];
const fetched = (server: FileServer, since = 0) => server.requests.slice(since).filter((r) => r.path === ONNX_FILE);

describe('downloading from mirrors', () => {
  it('skips a mirror that answers 500 and takes the file from the next, verified', async () => {
    const { target } = setUp([failing.url, good.url]);
    const [failed, served] = [fetched(failing).length, fetched(good).length];
    const progress: number[] = [];
    const backbone = await downloadCopy(entry(), entry().copies[0], { onProgress: (d) => progress.push(d) });
    expect(fetched(failing).length).toBe(failed + 1);
    expect(fetched(good).length).toBe(served + 1);
    expect(backbone).toMatchObject({ name: ONNX_ID, location: target, verified: true, source: 'registry' });
    expect(fileSha256(target)).toBe(fileSha256(official));
    expect(progress.at(-1)).toBe(fs.statSync(official).size);
    expect(fs.existsSync(`${target}.part`)).toBe(false);
  });

  it('refuses and deletes a wrong file from one mirror, and uses the next mirror\'s right one', async () => {
    const { target } = setUp([wrong.url, good.url]);
    const backbone = await downloadCopy(entry(), entry().copies[0]);
    expect(backbone.verified).toBe(true);
    expect(fileSha256(target)).toBe(fileSha256(official));
  });

  it('never keeps a wrong file: with only a wrong mirror the download fails and nothing is left', async () => {
    const { target } = setUp([wrong.url]);
    await expect(downloadCopy(entry(), entry().copies[0])).rejects.toThrow(/sent a file whose sha256 \(\w+…\) is not the registry's .*; it was deleted/);
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.existsSync(`${target}.part`)).toBe(false);
    expect(resolveBackbone.bind(null, ONNX_ID)).toThrow(/not on this machine/);
  });

  it('finishes a file cut off mid-way by one mirror from the next, with a Range request', async () => {
    const { target } = setUp([good.url, good.url]);
    const since = good.requests.length;
    good.cutNext(ONNX_FILE, 100);
    const backbone = await downloadCopy(entry(), entry().copies[0]);
    expect(fetched(good, since).map((r) => r.range)).toEqual([null, 'bytes=100-']);
    expect(backbone.verified).toBe(true);
    expect(fileSha256(target)).toBe(fileSha256(official));
  });

  it('resumes an existing .part with a Range request', async () => {
    const { target } = setUp([good.url]);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(`${target}.part`, fs.readFileSync(official).subarray(0, 200));
    const since = good.requests.length;
    const progress: number[] = [];
    await downloadCopy(entry(), entry().copies[0], { onProgress: (d) => progress.push(d) });
    expect(fetched(good, since).map((r) => r.range)).toEqual(['bytes=200-']);
    expect(progress[0]).toBe(200);
    expect(fileSha256(target)).toBe(fileSha256(official));
  });

  it('fetches a file whole again when a resumed .part turns out wrong', async () => {
    const { target } = setUp([good.url]);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(`${target}.part`, Buffer.alloc(200, 7));
    const since = good.requests.length;
    await downloadCopy(entry(), entry().copies[0]);
    expect(fetched(good, since).map((r) => r.range)).toEqual(['bytes=200-', null]);
    expect(fileSha256(target)).toBe(fileSha256(official));
  });

  it('stops at once when cancelled, keeping what came, and the next download resumes from it', async () => {
    const { target } = setUp([good.url]);
    good.stallNext(ONNX_FILE, 300);
    const controller = new AbortController();
    let done = 0;
    const download = downloadCopy(entry(), entry().copies[0], { signal: controller.signal, onProgress: (d) => (done = d) });
    await expect.poll(() => done).toBe(300);
    controller.abort();
    await expect(download).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(fs.statSync(`${target}.part`).size).toBe(300);
    const since = good.requests.length;
    await downloadCopy(entry(), entry().copies[0]);
    expect(fetched(good, since).map((r) => r.range)).toEqual(['bytes=300-']);
    expect(fileSha256(target)).toBe(fileSha256(official));
  });

  it('says what each mirror did when all fail, and keeps what came for next time', async () => {
    const { target } = setUp([failing.url, refused]);
    const failure = downloadCopy(entry(), entry().copies[0]);
    await expect(failure).rejects.toThrow(
      new RegExp(`Could not download ${ONNX_FILE} of TinyOnnx from any of its 2 mirrors:\\n- 127\\.0\\.0\\.1:\\d+: answered 500 Internal Server Error\\n- 127\\.0\\.0\\.1:\\d+: could not be reached \\(ECONNREFUSED\\)`),
    );
    expect(fs.existsSync(target)).toBe(false);

    setUp([good.url, failing.url]);
    good.cutNext(ONNX_FILE, 150);
    await expect(downloadCopy(entry(), entry().copies[0])).rejects.toThrow(/broke off after 150 bytes[^]*answered 500[^]*150 bytes are kept; try again to resume/);
  });
});

describe('an official file fetched by hand', () => {
  it('is recognised by its sha256 when added: that registry backbone, verified, remembered where it lies', async () => {
    setUp([refused]);
    const elsewhere = path.join(tempDir('loupe-fetched-'), 'from-a-proxy.onnx');
    fs.copyFileSync(official, elsewhere);
    const info = await addBackbone({ path: elsewhere });
    expect(info).toMatchObject({ name: ONNX_ID, source: 'registry', present: true, verified: true, path: elsewhere, imagenetTop1: 61.5, license: 'MIT' });
    expect(info.status).toMatch(/verified by checksum/);
    expect(locatedCopies()).toEqual([expect.objectContaining({ id: ONNX_ID, copy: 'official', path: elsewhere })]);
    expect(resolveBackbone(ONNX_ID)).toMatchObject({ location: elsewhere, verified: true, featureLayer: 'relu_out' });
    // It is not "added by hand": no user backbone was made of it.
    expect(listBackbones().map((b) => b.name)).toEqual([ONNX_ID]);
    // Given by its path it is the registry backbone too.
    expect(resolveBackbone(elsewhere)).toMatchObject({ name: ONNX_ID, source: 'registry', verified: true });
    // Changed afterwards, it is refused, with why.
    fs.appendFileSync(elsewhere, 'x');
    expect(() => resolveBackbone(ONNX_ID)).toThrow(/is not the official file: it has/);
  });

  it('is found in LOUPE_BACKBONE_DIR by its name, loose or in a folder named for the backbone', () => {
    const { dir } = setUp([refused]);
    fs.copyFileSync(official, path.join(dir, ONNX_FILE));
    expect(resolveBackbone(ONNX_ID)).toMatchObject({ location: path.join(dir, ONNX_FILE), verified: true });
    fs.rmSync(path.join(dir, ONNX_FILE));
    fs.mkdirSync(path.join(dir, ONNX_ID));
    fs.copyFileSync(official, path.join(dir, ONNX_ID, ONNX_FILE));
    expect(resolveBackbone(ONNX_ID).location).toBe(path.join(dir, ONNX_ID, ONNX_FILE));
  });

  it('that matches no pin is the user\'s own model, not verified', async () => {
    setUp([refused]);
    const mine = path.join(tempDir('loupe-mine-'), 'mine.onnx');
    writeTinyOnnx(mine, 4);
    const info = await addBackbone({ path: mine, output: 'relu_out', size: 16 });
    expect(info).toMatchObject({ name: 'mine', source: 'user', verified: false, present: true });
    expect(locatedCopies()).toEqual([]);
  });
});

describe('listing', () => {
  function io() {
    const out: string[] = [];
    return { out, io: { out: (t: string) => out.push(t), err: () => {}, json: (v: unknown) => out.push(JSON.stringify(v)), interrupted: new Promise<void>(() => {}) } };
  }

  it('shows size, license, published top-1, here and verified, and the speed measured here per resolution', async () => {
    const { dir } = setUp([good.url, failing.url]);
    const missing = io();
    expect(await main(['backbones'], missing.io)).toBe(0);
    expect(missing.out.join('\n')).toMatch(
      /^tinyonnx {17}Not here, downloadable {3}TinyOnnx\n {4}\d\.\d KB · MIT · ImageNet top-1 61\.5% \(published\) · 8 features · runs at 16 px\n {4}Extraction speed here: not measured \(not here\)\n {4}Not on this machine; Loupe can download it \(\d\.\d KB\) from 127\.0\.0\.1:\d+ \(or 1 other mirror\), verified by checksum\.$/,
    );

    fs.copyFileSync(official, path.join(dir, ONNX_FILE));
    const here = io();
    expect(await main(['backbones'], here.io)).toBe(0);
    expect(here.out.join('\n')).toMatch(/Here, verified .*\n.*\n {4}Extraction speed here: not measured \(loupe backbones measure tinyonnx\)/);

    recordSpeed(resolveBackbone(ONNX_ID).fingerprint, { resolution: 16, imagesPerSecond: 1234.4, batch: 32, measuredAt: 1 });
    const measured = io();
    expect(await main(['backbones'], measured.io)).toBe(0);
    expect(measured.out.join('\n')).toMatch(/Extraction speed here: 16 px 1,234 images\/s\n/);
    const json = io();
    expect(await main(['backbones', '--json'], json.io)).toBe(0);
    expect(JSON.parse(json.out[0]).backbones[0]).toMatchObject({
      name: ONNX_ID,
      present: true,
      verified: true,
      bytes: fs.statSync(official).size,
      imagenetTop1: 61.5,
      resolutions: [16],
      speeds: [{ resolution: 16, imagesPerSecond: 1234.4, batch: 32 }],
    });
  });
});
