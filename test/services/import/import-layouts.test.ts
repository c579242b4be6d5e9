// Import of generated folders in each layout the product reads, and the formats it takes.

import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { mediaRelPath, thumbRelPath } from '../../../src/main/store/media';
import { projectSummary } from '../../../src/main/services/summary';
import { tempDir } from '../../helpers';
import { folder, image, importInto, imagesOf, newProject, put } from './import-helpers';

describe('import layouts', () => {
  it('reads class folders: each subfolder is a class, at any depth; loose images are unlabeled', async () => {
    const src = await folder({ 'cat/a.png': 1, 'cat/b.png': 2, 'cat/2020/deep.png': 3, 'dog/a.png': 4, 'loose.png': 5 });
    const project = newProject();
    const report = await importInto(project, [src]);
    expect(report).toMatchObject({ status: 'completed', total: 5, imported: 5, duplicates: 0, skippedTotal: 0, skipped: [] });
    expect(report.createdClasses).toEqual(['cat', 'dog']);
    const byName = Object.fromEntries(imagesOf(project).map((i) => [i.source.slice(src.length + 1), i.label]));
    expect(byName).toEqual({ 'cat/a.png': 'cat', 'cat/b.png': 'cat', 'cat/2020/deep.png': 'cat', 'dog/a.png': 'dog', 'loose.png': null });
    const summary = projectSummary(project);
    expect(summary.classes.map((c) => [c.name, c.count])).toEqual([['cat', 3], ['dog', 1]]);
    expect(summary).toMatchObject({ images: 5, labeled: 4, unlabeled: 1 });
    for (const i of imagesOf(project)) {
      expect(i.splitSource).toBe('auto');
      expect(fs.statSync(path.join(project.root, mediaRelPath(i.hash, i.ext))).size).toBeGreaterThan(0);
    }
  });

  it('keeps split folders (valid and validation mean val) with class folders inside', async () => {
    const src = await folder({
      'train/cat/1.png': 1,
      'train/dog/1.png': 2,
      'valid/cat/1.png': 3,
      'validation/dog/1.png': 4,
      'test/cat/1.png': 5,
      'TEST/dog/2.png': 6,
      'test/unsure.png': 7,
    });
    const project = newProject();
    const report = await importInto(project, [src]);
    expect(report.imported).toBe(7);
    const got = imagesOf(project).map((i) => [i.source.slice(src.length + 1), i.label, i.split, i.splitSource]);
    expect(got).toEqual(
      expect.arrayContaining([
        ['train/cat/1.png', 'cat', 'train', 'folder'],
        ['train/dog/1.png', 'dog', 'train', 'folder'],
        ['valid/cat/1.png', 'cat', 'val', 'folder'],
        ['validation/dog/1.png', 'dog', 'val', 'folder'],
        ['test/cat/1.png', 'cat', 'test', 'folder'],
        ['TEST/dog/2.png', 'dog', 'test', 'folder'],
        ['test/unsure.png', null, 'test', 'folder'],
      ]),
    );
    expect(report.splits).toEqual({ train: 2, val: 2, test: 3 });
  });

  it('reads a dataset unpacked into a folder of its own (cifar10/{train,test}/<class>)', async () => {
    const src = tempDir();
    await folder({ 'train/cat/1.jpg': 1, 'test/cat/2.jpg': 2 }, 'jpeg', path.join(src, 'cifar10'));
    const project = newProject();
    const report = await importInto(project, [src]);
    expect(report.imported).toBe(2);
    expect(imagesOf(project).map((i) => [i.label, i.split])).toEqual([['cat', 'test'], ['cat', 'train']]);
  });

  it('imports an unlabeled folder and single files, in any supported format', async () => {
    const dir = tempDir();
    const files = [];
    for (const [i, format] of (['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'] as const).entries()) {
      files.push(put(dir, `one.${format}`, await image(format, { seed: 10 + i })));
    }
    const unlabeled = await folder({ 'x.png': 20, 'y.jpg': 21 });
    const project = newProject();
    const report = await importInto(project, [...files, unlabeled]);
    expect(report.skipped).toEqual([]);
    expect(report.imported).toBe(8);
    const images = imagesOf(project);
    expect(images.map((i) => i.format).sort()).toEqual(['avif', 'gif', 'jpeg', 'png', 'png', 'png', 'tiff', 'webp'].sort());
    expect(images.every((i) => i.label === null && i.width === 8 && i.height === 8)).toBe(true);
    // Content decides the format, not the name: y.jpg is a PNG.
    expect(images.find((i) => i.name === 'y.jpg')).toMatchObject({ format: 'png', ext: 'png' });
    // A browser cannot show TIFF: even a small one gets a thumbnail; small PNGs are their own.
    const tiff = images.find((i) => i.format === 'tiff')!;
    expect(fs.existsSync(path.join(project.root, thumbRelPath(tiff.hash)))).toBe(true);
    const png = images.find((i) => i.format === 'png')!;
    expect(fs.existsSync(path.join(project.root, thumbRelPath(png.hash)))).toBe(false);
  });

  it('takes the first frame of an animated GIF', async () => {
    const frames = [await image('png', { width: 6, height: 4, seed: 1 }), await image('png', { width: 6, height: 4, seed: 2 })];
    const animated = await sharp(frames, { join: { animated: true } }).gif().toBuffer();
    expect((await sharp(animated).metadata()).pages).toBe(2);
    const project = newProject();
    const report = await importInto(project, [await folder({ 'anim.gif': animated })]);
    expect(report.imported).toBe(1);
    expect(imagesOf(project)[0]).toMatchObject({ format: 'gif', width: 6, height: 4 });
  });

  it('applies EXIF orientation to the recorded size and the thumbnail, and keeps the original bytes', async () => {
    const rotated = await image('jpeg', { width: 400, height: 200, orientation: 6, seed: 3 });
    const dir = await folder({ 'photo.jpg': rotated, 'small.jpg': await image('jpeg', { width: 40, height: 20, orientation: 8, seed: 4 }) });
    const project = newProject();
    await importInto(project, [dir]);
    const [photo, small] = imagesOf(project);
    expect([photo.width, photo.height]).toEqual([200, 400]);
    expect([small.width, small.height]).toEqual([20, 40]);
    expect(fs.readFileSync(path.join(project.root, mediaRelPath(photo.hash, 'jpg')))).toEqual(rotated);
    const thumb = await sharp(path.join(project.root, thumbRelPath(photo.hash))).metadata();
    expect(thumb).toMatchObject({ format: 'webp', width: 128, height: 256 });
  });

  it('reads a CSV of path,label (header or not), refusing rows it cannot use, each with a reason', async () => {
    const dir = await folder({ 'img/a.png': 1, 'img/b.png': 2, 'img/c.png': 3, 'img/d.png': 4, 'img/e.png': 5, 'f.png': 6 });
    const csv = put(
      dir,
      'labels.csv',
      [
        'path,label,split',
        'img/a.png,cat,',
        '"img/b.png","dog, big",test',
        'img/c.png,cats/persian,',
        'img/d.png,,',
        'img/missing.png,cat,',
        'img/e.png,cat,holdout',
        'img/a.png,dog,',
        `${path.join(dir, 'f.png')},dog,val`,
        'img/e.png,evil\u202Ename,',
      ].join('\r\n'),
    );
    const plain = put(tempDir(), 'plain.csv', `${path.join(dir, 'img/e.png')},bird\n`);
    const project = newProject();
    const report = await importInto(project, [csv, plain]);
    const got = Object.fromEntries(imagesOf(project).map((i) => [i.name, [i.label, i.split === 'test' || i.split === 'val' ? i.split : 'auto-or-train']]));
    expect(got).toMatchObject({ 'a.png': ['cat', expect.any(String)], 'b.png': ['dog, big', 'test'], 'd.png': [null, expect.any(String)], 'f.png': ['dog', 'val'], 'e.png': ['bird', expect.any(String)] });
    expect(report.imported).toBe(5);
    const reasons = Object.fromEntries(report.skipped.map((s) => [s.path.replace(dir + path.sep, ''), s.reason]));
    expect(reasons['labels.csv:4']).toMatch(/path separator/);
    expect(reasons['img/missing.png']).toMatch(/not found/);
    expect(reasons['labels.csv:7']).toMatch(/Unknown split/);
    expect(reasons['labels.csv:8']).toMatch(/listed more than once/);
    expect(reasons['labels.csv:10']).toMatch(/bidirectional/);
    expect(report.skippedTotal).toBe(5);
    // c.png was only listed with a refused label: not imported at all.
    expect(imagesOf(project).some((i) => i.name === 'c.png')).toBe(false);
  });
});

describe('what is not imported', () => {
  it('refuses the project itself and other Loupe projects met on the way', async () => {
    const project = newProject();
    const src = await folder({ 'cat/a.png': 1 });
    const other = newProject('other.loupe');
    fs.renameSync(other.root, path.join(src, 'other.loupe'));
    const report = await importInto(project, [src, project.root, path.join(project.root, 'media')]);
    expect(report.imported).toBe(1);
    expect(report.skipped.map((s) => [path.basename(s.path), s.reason.split(':')[0].split(',')[0]]).sort()).toEqual([
      ['media', 'This is the project folder itself'],
      ['other.loupe', 'A Loupe project folder'],
      ['p.loupe', 'This is the project folder itself'],
    ]);
  });
});
