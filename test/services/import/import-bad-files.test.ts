// Every kind of bad file is skipped with a reason in the report, and the rest of the import
// goes on.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tiffDirectoryPastEnd } from '../../../src/main/services/pixels/formats';
import { decodeErrorReason, decodeFailureReason } from '../../../src/main/services/pixels/decode-reasons';
import { cliPath, tempDir } from '../../helpers';
import { bombPng, folder, image, importInto, imagesOf, newProject, put, reasonFor } from './import-helpers';

async function badFolder(): Promise<string> {
  const good = await image('jpeg', { width: 64, height: 64, seed: 1 });
  const png = await image('png', { width: 64, height: 64, seed: 2 });
  const dir = await folder({
    'cat/good-1.jpg': good,
    'cat/good-2.png': 3,
    'cat/truncated.jpg': good.subarray(0, Math.floor(good.length * 0.6)),
    'cat/truncated.png': png.subarray(0, Math.floor(png.length * 0.6)),
    'cat/text.jpg': Buffer.from('This is a text file with an image name.\n'),
    'cat/empty.png': Buffer.alloc(0),
    'cat/bomb.png': bombPng(40_000, 40_000),
    'cat/old.bmp': Buffer.concat([Buffer.from('BM'), Buffer.alloc(60)]),
    'dog/good-3.webp': await image('webp', { seed: 4 }),
    [`dog/new\nline.png`]: 5,
    [`dog/gpj.\u202Eevil.png`]: 6,
  });
  fs.symlinkSync(path.join(dir, 'nowhere.png'), path.join(dir, 'dog', 'broken-link.png'));
  fs.writeFileSync(Buffer.concat([Buffer.from(path.join(dir, 'dog') + '/'), Buffer.from([0x62, 0xff, 0xfe, 0x2e, 0x70, 0x6e, 0x67])]), await image('png', { seed: 7 }));
  fs.mkdirSync(path.join(dir, 'weird\u0007folder'));
  put(dir, 'weird\u0007folder/inside.png', await image('png', { seed: 8 }));
  put(dir, '.DS_Store', 'junk');
  spawnSync('mkfifo', [path.join(dir, 'dog', 'pipe.png')]);
  return dir;
}

describe('bad files', () => {
  it('skips each bad file with a reason and imports the rest', async () => {
    const dir = await badFolder();
    const project = newProject();
    const report = await importInto(project, [dir]);
    expect(report.status).toBe('completed');
    if (process.env.SHOW_REPORT) console.log(JSON.stringify(report, null, 1));
    expect(imagesOf(project).map((i) => i.name).sort()).toEqual(['good-1.jpg', 'good-2.png', 'good-3.webp']);
    expect(report.imported).toBe(3);

    const reasons: Record<string, RegExp> = {
      'truncated.jpg': /truncated/,
      'truncated.png': /truncated/,
      'text.jpg': /Not an image/,
      'empty.png': /empty \(0 bytes\)/,
      'bomb.png': /40000×40000 pixels is over the limit .*decompression bomb/,
      'old.bmp': /BMP is not supported/,
      'broken-link.png': /broken symbolic link/,
      'new\\u{A}line.png': /control character \(U\+000A\)/,
      'gpj.\\u{202E}evil.png': /bidirectional text control \(U\+202E\)/,
      'b\\xFF\\xFE.png': /not valid UTF-8/,
      'weird\\u{7}folder': /folder name contains a control character/,
    };
    if (fs.existsSync(path.join(dir, 'dog', 'pipe.png'))) reasons['pipe.png'] = /Not a regular file/;
    for (const [name, reason] of Object.entries(reasons)) expect(reasonFor(report, name), name).toMatch(reason);
    expect(report.skippedTotal).toBe(Object.keys(reasons).length);
    // Names are shown escaped: no raw control characters or overrides reach a report.
    // eslint-disable-next-line no-control-regex -- asserting there are none
    for (const s of report.skipped) expect(s.path).not.toMatch(/[\u0000-\u001f\u202e\ufffd]/);
    expect(report.skipped.some((s) => s.path.includes('.DS_Store'))).toBe(false);
  });

  it('refuses images over the pixel limit before decoding them', async () => {
    const dir = await folder({ 'big.png': await image('png', { width: 200, height: 100, seed: 1 }), 'big.tiff': await image('tiff', { width: 200, height: 100, seed: 2 }), 'ok.png': 3 });
    const project = newProject();
    const report = await importInto(project, [dir], { limits: { maxPixels: 10_000 } });
    expect(report.imported).toBe(1);
    expect(reasonFor(report, 'big.png')).toMatch(/200×100 pixels is over the limit of 0.01 megapixels/);
    expect(reasonFor(report, 'big.tiff')).toMatch(/over the limit/);
  });

  it('skips a file it may not read (as root, by importing as an unprivileged user)', async () => {
    const dir = await folder({ 'cat/readable.png': 1, 'cat/secret.png': 2 });
    fs.chmodSync(path.join(dir, 'cat', 'secret.png'), 0o000);
    const asRoot = process.getuid?.() === 0;
    if (!asRoot) {
      const project = newProject();
      const report = await importInto(project, [dir]);
      expect(report.imported).toBe(1);
      expect(reasonFor(report, 'secret.png')).toMatch(/Permission denied/);
      return;
    }
    // Root reads anything, so run the CLI as nobody; it needs a folder of its own to write in.
    const work = tempDir();
    fs.chmodSync(work, 0o777);
    fs.chmodSync(dir, 0o755);
    const as = { uid: 65534, gid: 65534, encoding: 'utf8' as const, env: { ...process.env, LOUPE_HOME: path.join(work, 'home') } };
    const project = path.join(work, 'p.loupe');
    expect(spawnSync(process.execPath, [cliPath, 'create', project], as).status).toBe(0);
    const run = spawnSync(process.execPath, [cliPath, 'import', project, dir, '--json'], as);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.imported).toBe(1);
    expect(report.skipped).toEqual([{ path: path.join(dir, 'cat', 'secret.png'), reason: expect.stringMatching(/Permission denied/) }]);
  });
});

describe('truncation', () => {
  it('is recognised from the file itself, whatever the decoder says', async () => {
    const { looksTruncated } = await import('../../../src/main/services/pixels/formats');
    for (const format of ['jpeg', 'png', 'gif', 'webp'] as const) {
      const whole = await image(format, { width: 32, height: 32, seed: 5 });
      expect(looksTruncated(format, whole), format).toBe(false);
      expect(looksTruncated(format, whole.subarray(0, Math.floor(whole.length * 0.7))), format).toBe(true);
    }
  });
});

describe('decoder errors as reasons', () => {
  const reason = (message: string, format: Parameters<typeof decodeErrorReason>[2]) => decodeErrorReason(new Error(message), 150e6, format);

  it('quotes only what the decoder said about this file, not what other images decoding at the time said', () => {
    // libvips keeps one error log per process: a GIF's error can carry a WebP's words.
    expect(reason('Input buffer has corrupt header: webp: unable to parse image', 'gif')).toBe("The GIF file's header is damaged.");
    expect(reason('Input buffer has corrupt header: gifload_buffer: no frames in GIF\nwebp: unable to parse image', 'gif')).toBe(
      "The GIF file's header is damaged: gifload_buffer: no frames in GIF",
    );
    // A text file predicted beside a PNG left "not in a known format" in the shared log (seen in
    // test/export.test.ts): this PNG's reason must not depend on that race.
    expect(reason('Input buffer has corrupt header: VipsForeignLoad: buffer is not in a known format', 'png')).toBe("The PNG file's header is damaged.");
    // Another image's "read error" does not make this one truncated.
    expect(reason('vipspng: libpng read error', 'gif')).toBe('The GIF file cannot be decoded: its image data is damaged.');
    expect(reason('vipspng: libpng read error\nvipspng: libpng read error', 'png')).toBe('The PNG file is truncated or damaged: vipspng: libpng read error');
    expect(reason('VipsJpeg: Premature end of JPEG file\nVipsJpeg: out of order read', 'jpeg')).toBe(
      'The JPEG file is truncated or damaged: VipsJpeg: Premature end of JPEG file; VipsJpeg: out of order read',
    );
  });

  it('names a header that declares no pixels from the bytes, whatever another image left in the log', () => {
    // A cut-off PNG predicted beside this one can leave its libpng words in the shared log
    // (seen in export.test.ts): the reason comes from the header itself.
    for (const message of ['Input buffer has corrupt header: vipspng: libpng read error', 'Input buffer has corrupt header: ']) {
      expect(decodeFailureReason(new Error(message), bombPng(0, 0), 'png', 150e6)).toBe("The PNG file's header is damaged: it declares 0×0 pixels.");
    }
  });

  it('says what is wrong even when the decoder gave no words', () => {
    expect(reason('Input buffer has corrupt header: ', 'png')).toBe("The PNG file's header is damaged.");
    expect(reason('Unknown error', 'webp')).toBe('The WebP file cannot be decoded: its image data is damaged.');
    expect(reason('Input buffer contains unsupported image format', 'tiff')).toBe('The TIFF file is damaged: it starts as a TIFF does, but the decoder cannot read it.');
    expect(reason('Input image exceeds pixel limit', 'png')).toMatch(/over the limit of 150 megapixels/);
  });

  it('tells a TIFF whose directory lies past its end', () => {
    const tiff = Buffer.from('II*\0\x08\0\0\0\0\0', 'latin1');
    expect(tiffDirectoryPastEnd(tiff)).toBe(false);
    expect(tiffDirectoryPastEnd(tiff.subarray(0, 9))).toBe(true);
    expect(tiffDirectoryPastEnd(Buffer.from('MM\0*\x7f\xff\xff\xf0', 'latin1'))).toBe(true);
    expect(tiffDirectoryPastEnd(Buffer.from('MM\0*\0\0\0\x08\0\0', 'latin1'))).toBe(false);
  });
});
