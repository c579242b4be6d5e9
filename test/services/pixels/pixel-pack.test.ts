import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ensurePixelPack, readRows, type PackImage } from '../../../src/main/services/pixels/pixel-pack';
import { createRun, finishRun, recordEpoch } from '../../../src/main/services/training/records';
import { mediaRelPath } from '../../../src/main/store/media';
import { Project } from '../../../src/main/store/project';
import { onCleanup, tempDir } from '../../helpers';

async function addImage(project: Project, name: string, input: ReturnType<typeof sharp>): Promise<PackImage> {
  const buf = await input.png().toBuffer();
  const hash = (await import('node:crypto')).createHash('sha256').update(buf).digest('hex');
  const file = path.join(project.root, mediaRelPath(hash, 'png'));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, buf);
  return { hash, ext: 'png' };
}

function project() {
  const p = Project.create(path.join(tempDir(), 'pack.loupe'));
  onCleanup(() => p.close());
  return p;
}

describe('pixel packs', () => {
  it('decodes each image once to the input shape and appends new images later', async () => {
    const p = project();
    const red = await addImage(p, 'red', sharp({ create: { width: 40, height: 20, channels: 3, background: '#ff0000' } }));
    const gray = await addImage(p, 'gray', sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }));
    const spec = { width: 4, height: 4, channels: 3 as const, fit: 'cover' as const };
    let decoded = 0;
    const pack = await ensurePixelPack(p, [red, gray, red], spec, { onProgress: () => decoded++ });
    expect(decoded).toBe(2);
    expect(pack.rows.size).toBe(2);
    const fd = fs.openSync(pack.file, 'r');
    const px = readRows(fd, pack, [pack.rows.get(red.hash)!, pack.rows.get(gray.hash)!]);
    fs.closeSync(fd);
    expect([...px.slice(0, 3)]).toEqual([255, 0, 0]);
    expect([...px.slice(48, 51)]).toEqual([128, 128, 128]);

    const blue = await addImage(p, 'blue', sharp({ create: { width: 5, height: 5, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 0.5 } } }));
    decoded = 0;
    const again = await ensurePixelPack(p, [red, gray, blue], spec, { onProgress: () => decoded++ });
    expect(decoded).toBe(1); // only the new one
    expect(again.rows.get(red.hash)).toBe(pack.rows.get(red.hash));
    expect(fs.statSync(again.file).size).toBe(3 * 48);
  });

  it('makes single-channel rows for greyscale input and records undecodable images', async () => {
    const p = project();
    const img = await addImage(p, 'g', sharp({ create: { width: 6, height: 6, channels: 3, background: '#404040' } }));
    const broken = await addImage(p, 'b', sharp({ create: { width: 6, height: 6, channels: 3, background: '#000' } }));
    fs.writeFileSync(path.join(p.root, mediaRelPath(broken.hash, 'png')), 'damaged on disk');
    const pack = await ensurePixelPack(p, [img, broken], { width: 3, height: 3, channels: 1, fit: 'fill' });
    expect(pack.rowBytes).toBe(9);
    expect(pack.rows.has(img.hash)).toBe(true);
    expect(pack.failed.has(broken.hash)).toBe(true);
  });

  it('keeps what was decoded when cancelled', async () => {
    const p = project();
    const images = await Promise.all(
      Array.from({ length: 20 }, (_, i) => addImage(p, `i${i}`, sharp({ create: { width: 16, height: 16, channels: 3, background: { r: i, g: 0, b: 0 } } }))),
    );
    const controller = new AbortController();
    const spec = { width: 8, height: 8, channels: 3 as const, fit: 'fill' as const };
    await expect(
      ensurePixelPack(p, images, spec, { signal: controller.signal, onProgress: (done) => done === 5 && controller.abort() }),
    ).rejects.toMatchObject({ code: 'CANCELLED' });
    let decoded = 0;
    await ensurePixelPack(p, images, spec, { onProgress: () => decoded++ });
    expect(decoded).toBeLessThan(20);
    expect(decoded).toBeGreaterThan(0);
  });
});

describe('run records', () => {
  it('records a run with its data snapshot and epochs, and marks orphans interrupted on open', () => {
    const dir = path.join(tempDir(), 'runs.loupe');
    let p = Project.create(dir);
    p.db.exec(`INSERT INTO classes (id, name, color, position, created_at) VALUES (1, 'a', '#fff', 0, 0);
      INSERT INTO images (id, hash, ext, format, width, height, channels, bytes, original_name, split, added_at)
        VALUES (1, '${'a'.repeat(64)}', 'png', 'png', 1, 1, 3, 1, 'x', 'train', 0);`);
    const base = { arch: 'mlp', backend: 'cpu', backendReason: 'test', device: 'cpu', seed: 1, plan: {}, config: {}, classes: [{ id: 1, name: 'a' }] };
    const done = createRun(p.db, { ...base, snapshot: [{ imageId: 1, classId: 1, split: 'train' }] });
    recordEpoch(p.db, done, { epoch: 1, trainLoss: 1, trainAccuracy: 0.5, valLoss: 1, valAccuracy: 0.5, learningRate: 0.1, seconds: 1, imagesPerSecond: 10 });
    finishRun(p.db, done, { status: 'completed', seconds: 1, imagesPerSecond: 10, bestEpoch: 1, keptEpoch: 1, prepareSeconds: 0, valAccuracy: 0.5, testAccuracy: 0.4 });
    const orphan = createRun(p.db, { ...base, snapshot: [] });
    p.close();
    p = Project.open(dir);
    onCleanup(() => p.close());
    const status = (id: number) => (p.db.prepare('SELECT status FROM runs WHERE id = ?').get(id) as { status: string }).status;
    expect(status(done)).toBe('completed');
    expect(status(orphan)).toBe('interrupted');
    expect(p.db.prepare('SELECT count(*) AS n FROM run_images WHERE run_id = ?').get(done)).toEqual({ n: 1 });
  });
});
