// The doctor's checks of the data set's shape: an image far from every class is an outlier, a
// class made of two groups far apart is found (its smaller group listed), and neither fires on a
// class that is one group. On vectors whose shape is known, then on generated images whose cached
// features are written with a known shape.

import { describe, expect, it } from 'vitest';
import { runDoctor } from '../../../src/main/services/doctor';
import { classesInTwo, outliers, type FeatureItem } from '../../../src/main/services/doctor/structure';
import { standardise } from '../../../src/main/services/features/standardise';
import { seededRandom } from '../../../src/main/services/rng';
import { around, knownProblems, knownShapeFeatures } from './doctor-helpers';

function items(spec: { classId: number | null; axis: number; n: number }[]): FeatureItem[] {
  const random = seededRandom(3);
  const list: FeatureItem[] = [];
  for (const s of spec) for (let k = 0; k < s.n; k++) list.push({ index: list.length, classId: s.classId, vector: Float32Array.from(around(s.axis, random)) });
  standardise(list.map((it) => it.vector));
  return list;
}

describe('outliers and classes in two', () => {
  it('flags the image far from every class, and no image of a tight class', async () => {
    const list = items([
      { classId: 1, axis: 0, n: 30 },
      { classId: 2, axis: 1, n: 30 },
      { classId: 1, axis: 7, n: 1 },
    ]);
    const found = await outliers(list);
    expect(found.map((o) => o.index)).toEqual([60]);
    expect(found[0].score).toBeGreaterThan(0);
  });

  it('judges a project without labels by its unlabeled images’ own groups', async () => {
    const found = await outliers(items([
      { classId: null, axis: 0, n: 20 },
      { classId: null, axis: 1, n: 20 },
      { classId: null, axis: 2, n: 20 },
      { classId: null, axis: 5, n: 1 },
    ]));
    expect(found.map((o) => o.index)).toEqual([60]);
    expect(found[0].nearestClassId).toBeNull();
  });

  it('finds a class made of two groups, listing the smaller, and not a class of one group', async () => {
    const list = items([
      { classId: 1, axis: 0, n: 24 },
      { classId: 1, axis: 1, n: 12 },
      { classId: 2, axis: 2, n: 36 },
    ]);
    const splits = await classesInTwo(list);
    expect(splits).toHaveLength(1);
    expect(splits[0]).toMatchObject({ classId: 1, larger: 24 });
    expect(splits[0].smaller.sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, k) => 24 + k));
    expect(splits[0].share).toBeGreaterThan(0.5);
  });

  it('leaves a few strays to the outlier check', async () => {
    const splits = await classesInTwo(items([
      { classId: 1, axis: 0, n: 40 },
      { classId: 1, axis: 1, n: 2 },
    ]));
    expect(splits).toEqual([]);
  });

  it('lists both in the doctor’s report from the project’s cached features, and says which backbone', async () => {
    const { project } = await knownProblems();
    knownShapeFeatures(project);
    const report = await runDoctor(project);
    expect(report.backbone).toBe('handmade at 32 px');
    const names = (check: string) => report.findings.filter((f) => f.check === check).map((f) => f.images.map((i) => i.name).sort());
    expect(names('outlier')).toEqual([['on-white.png']]);
    expect(names('classInTwo')).toEqual([['grey.png', ...Array.from({ length: 8 }, (_, k) => `scene${8 + k}.png`)].sort()]);
    const split = report.findings.find((f) => f.check === 'classInTwo')!;
    expect(split.detail).toMatch(/^“cat” falls into two groups far apart: these 9 images and 10 others/);
    expect(report.checks.find((c) => c.check === 'outlier')?.count).toBe(1);
    // The features do not change what the pixel checks found, nor the leak.
    expect(report.findings[0]).toMatchObject({ check: 'nearDuplicate', crossSplit: true });
  });
});
