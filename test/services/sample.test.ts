// The sample project: 10,000 MNIST digits through the ordinary import, the same in every
// project (fixed seed), from the start screen's API method.

import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ImportReport, JobInfo } from '../../src/shared/types';
import { encodeGrayPng } from '../../src/main/services/sample';
import { mediaRelPath } from '../../src/main/store/media';
import { client, finished } from '../api/api-helpers';
import { makeStudio, tempDir } from '../helpers';
import { tempFiles } from './import/import-helpers';

describe('sample project', () => {
  it('encodes grayscale PNGs that decode to the same pixels', async () => {
    const pixels = Uint8Array.from({ length: 28 * 28 }, (_, i) => (i * 7) & 255);
    const png = encodeGrayPng(28, 28, pixels);
    expect(await sharp(png).metadata()).toMatchObject({ format: 'png', width: 28, height: 28, channels: 1 });
    const { data } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    expect(Uint8Array.from(data)).toEqual(pixels);
  });

  it('creates the digits project: 10,000 labelled digits, split 80/10/10 per class', async () => {
    const studio = makeStudio();
    const c = client(studio);
    const dir = path.join(tempDir(), 'digits.loupe');
    const created = await c.api.createSampleProject({ path: dir, kind: 'digits' });
    expect(created.project).toMatchObject({ path: dir, name: 'Digits (sample)', images: 0 });
    const job = (await finished(c, created.jobId)) as JobInfo;
    const report = job.result as ImportReport;
    expect(report).toMatchObject({ status: 'completed', imported: 10_000, duplicates: 0, skippedTotal: 0 });
    expect(report.createdClasses).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const summary = await c.api.projectSummary();
    expect(summary).toMatchObject({ images: 10_000, labeled: 10_000 });
    expect(summary.classes.map((k) => k.count)).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    expect(summary.splits.train).toBe(8000);
    expect(summary.splits.val + summary.splits.test).toBe(2000);
    expect(tempFiles(dir)).toEqual([]);

    // The digits keep their pixels: 28x28, one channel.
    const project = c.session.project!;
    {
      const first = project.db.prepare("SELECT hash, ext, split, width, height, channels FROM images WHERE original_name = 'mnist-00001.png'").get() as {
        hash: string;
        ext: string;
        width: number;
        height: number;
        channels: number;
      };
      expect(first).toMatchObject({ ext: 'png', width: 28, height: 28, channels: 1 });
      expect(fs.existsSync(path.join(dir, mediaRelPath(first.hash, first.ext)))).toBe(true);
    }
  }, 120_000);
});
