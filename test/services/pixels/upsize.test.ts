import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeToSpec, type InputSpec } from '../../../src/main/services/pixels/pixel-pack';
import { centreOffset, coverSize, coverUpsize } from '../../../src/main/services/pixels/upsize';
import { tempDir } from '../../helpers';

/** A photo-like test image: smooth gradients, edges and noise, so that resampling filters differ. */
async function photo(width: number, height: number, seed: number): Promise<Buffer> {
  const px = Buffer.alloc(width * height * 3);
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 255;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      px[i] = (x * 255) / width;
      px[i + 1] = x + y < (width + height) / 2 ? 40 : 220;
      px[i + 2] = rnd();
    }
  }
  return sharp(px, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

const spec = (width: number, height: number, channels: 1 | 3 = 3): InputSpec => ({ width, height, channels, fit: 'cover' });

/** sharp doing the whole of a cover resize, as decodeToSpec did before upsize.ts. */
async function sharpCover(input: Buffer, s: InputSpec): Promise<Buffer> {
  return sharp(input).rotate().resize(s.width, s.height, { fit: 'cover', position: 'centre' }).removeAlpha().toColourspace(s.channels === 1 ? 'b-w' : 'srgb').raw().toBuffer();
}

function differences(a: Buffer, b: Buffer): { max: number; mean: number } {
  expect(a.length).toBe(b.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

describe('enlarging small images (upsize.ts)', () => {
  it("reproduces libvips' bicubic enlargement, at whole and fractional scales, square or not", async () => {
    for (const [w, h, tw, th] of [
      [32, 32, 128, 128],
      [30, 30, 128, 128],
      [32, 32, 224, 224],
      [40, 30, 96, 96],
      [28, 36, 64, 48],
      [50, 50, 64, 64],
    ]) {
      const input = await photo(w, h, w * 31 + h);
      const { data, info } = await sharp(input).raw().toBuffer({ resolveWithObject: true });
      const mine = coverUpsize(data, info.width, info.height, 3, tw, th);
      const { max, mean } = differences(mine, await sharpCover(input, spec(tw, th)));
      // libvips computes in fixed point at 1/64-pixel positions: off by a level here and there.
      // Sample positions shifted by 1/8 pixel gave a mean of 5.5 levels on these images.
      expect(mean, `${w}x${h} -> ${tw}x${th}`).toBeLessThan(0.6);
      expect(max, `${w}x${h} -> ${tw}x${th}`).toBeLessThanOrEqual(8);
    }
  });

  it('crops the centre as sharp does, and sizes the cover as it does', () => {
    expect(coverSize(40, 30, 128, 128)).toEqual({ width: 171, height: 128 });
    expect(coverSize(30, 40, 96, 128)).toEqual({ width: 96, height: 128 });
    expect(centreOffset(171, 128)).toBe(22);
    expect(centreOffset(170, 128)).toBe(21);
    // A one-pixel image fills the target with its colour.
    expect([...coverUpsize(Buffer.from([10, 20, 30]), 1, 1, 3, 2, 2)]).toEqual([10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30]);
  });
});

describe('decodeToSpec', () => {
  it('gives exactly what sharp gives wherever sharp still does the resizing', async () => {
    const dir = tempDir();
    const cases: { name: string; input: Buffer; spec: InputSpec }[] = [];
    for (const [w, h] of [
      [500, 375],
      [375, 500],
      [1200, 900],
      [129, 129],
    ]) {
      const png = await photo(w, h, w + h);
      const jpeg = await sharp(png).jpeg({ quality: 90 }).toBuffer();
      const rotated = await sharp(png).jpeg().withMetadata({ orientation: 6 }).toBuffer();
      for (const s of [spec(128, 128), spec(96, 128), spec(24, 24)]) {
        cases.push({ name: `png ${w}x${h}`, input: png, spec: s }, { name: `jpeg ${w}x${h}`, input: jpeg, spec: s }, { name: `rotated ${w}x${h}`, input: rotated, spec: s });
      }
    }
    // Alpha and greyscale take sharp's path whole, enlarged or not.
    const small = await photo(20, 16, 7);
    const alpha = await sharp(small).ensureAlpha(0.5).png().toBuffer();
    for (const s of [spec(64, 64), spec(8, 8), spec(64, 64, 1), spec(8, 8, 1)]) {
      cases.push({ name: 'alpha', input: alpha, spec: s }, { name: 'greyscale', input: small, spec: { ...s, channels: 1 } });
    }
    cases.push({ name: 'same size', input: small, spec: spec(20, 16) });
    for (const c of cases) {
      const expected = await sharpCover(c.input, c.spec);
      expect((await decodeToSpec(c.input, c.spec)).equals(expected), `${c.name} -> ${c.spec.width}x${c.spec.height}x${c.spec.channels}`).toBe(true);
    }
    // From a file too.
    const file = path.join(dir, 'photo.jpg');
    fs.writeFileSync(file, cases[1].input);
    expect((await decodeToSpec(file, cases[1].spec)).equals(await sharpCover(cases[1].input, cases[1].spec))).toBe(true);
  });

  it('enlarges small RGB images itself, close to what sharp gave', async () => {
    const input = await sharp(await photo(32, 32, 3)).jpeg().toBuffer();
    const mine = await decodeToSpec(input, spec(128, 128));
    const { mean } = differences(mine, await sharpCover(input, spec(128, 128)));
    expect(mean).toBeGreaterThan(0); // not sharp's result: upsize.ts's
    expect(mean).toBeLessThan(0.6);
    // Deterministic: the same bytes decode to the same pixels every time.
    expect((await decodeToSpec(input, spec(128, 128))).equals(mine)).toBe(true);
  });

  it('names the file when it cannot be read or decoded', async () => {
    const dir = tempDir();
    await expect(decodeToSpec(path.join(dir, 'gone.jpg'), spec(8, 8))).rejects.toThrow(/gone\.jpg/);
    fs.writeFileSync(path.join(dir, 'bad.jpg'), 'not an image');
    await expect(decodeToSpec(path.join(dir, 'bad.jpg'), spec(8, 8))).rejects.toThrow();
  });
});
