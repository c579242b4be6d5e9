// "More like this": the altered copy of an image comes first among its nearest images by
// cached backbone features, from an image of the project and from a file from outside it; the
// search over the matrix is exact; a project without features says what to do.

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { liveImages } from '../../../src/main/services/doctor/records';
import { FeatureMatrix, topK } from '../../../src/main/services/features/matrix';
import { similarImages } from '../../../src/main/services/features/similar';
import { seededRandom } from '../../../src/main/services/rng';
import { importInto, newProject, put } from '../import/import-helpers';
import { tempDir } from '../../helpers';
import { png, scene } from '../doctor/doctor-helpers';
import { cacheTinyFeatures, similarFolder, tinyBackboneHere } from './similar-helpers';

beforeAll(async () => {
  await tinyBackboneHere();
}, 60_000);

describe('more like this', () => {
  it('puts the altered copy first, from the image and from a file from outside the project', async () => {
    const project = newProject('similar.loupe');
    await importInto(project, [await similarFolder()]);
    await expect(similarImages(project, { imageId: 1 })).rejects.toThrow(/No backbone features are cached/);
    await cacheTinyFeatures(project);
    const rows = liveImages(project.db);
    const id = (name: string) => rows.find((r) => r.name === name)!.id;

    const fromImage = await similarImages(project, { imageId: id('scene7.png'), limit: 5 });
    expect(fromImage.ids[0]).toBe(id('copy.jpg'));
    expect(fromImage.ids).not.toContain(id('scene7.png'));
    expect(fromImage.images).toBe(31);
    expect(fromImage.backbone).toBe('tinynet at 32 px');
    expect(fromImage.similarities).toEqual([...fromImage.similarities].sort((a, b) => b - a));

    // A resized copy from outside the project: its original and the copy come first.
    const outside = await sharp(await png(scene(8))).resize(48, 48).png().toBuffer();
    const fromFile = await similarImages(project, { file: outside, limit: 3 });
    expect(fromFile.ids.slice(0, 2).sort()).toEqual([id('scene7.png'), id('copy.jpg')].sort());

    // The index is kept while nothing changes, and made again for new images with features.
    expect((await similarImages(project, { imageId: id('scene7.png'), limit: 5 })).ids).toEqual(fromImage.ids);
    const more = tempDir('loupe-similar-more-');
    put(more, 'train/dog/new.png', outside);
    await importInto(project, [more]);
    await cacheTinyFeatures(project);
    const again = await similarImages(project, { file: outside, limit: 1 });
    expect(again.images).toBe(32);
    expect(again.similarities[0]).toBeCloseTo(1, 5);
  }, 60_000);

  it('searches exactly: the same ranking as every dot product computed one by one', async () => {
    const random = seededRandom(5);
    const vectors = Array.from({ length: 3000 }, () => Float32Array.from({ length: 64 }, () => random() - 0.5));
    const matrix = FeatureMatrix.of(vectors);
    const query = vectors[17];
    const dot = (v: Float32Array) => v.reduce((s, x, i) => s + x * query[i], 0);
    const expected = topK(Float32Array.from(vectors, dot), 10, (row) => row === 17).map((n) => n.row);
    expect((await matrix.nearest(query, 10, (row) => row === 17)).map((n) => n.row)).toEqual(expected);
  });
});
