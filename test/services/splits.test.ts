// Train/val/test assignment: stratified per class (unlabeled is its own stratum), seeded per
// project, stable when images are added, and split folders win.

import { describe, expect, it } from 'vitest';
import type { Split } from '../../src/shared/types';
import { assignSplits, emptyCounts, splitQuotas, splitSeed, type SplitCandidate, type SplitCounts } from '../../src/main/services/splits';
import { folder, importInto, imagesOf, newProject } from './import/import-helpers';

const hashes = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const tally = (splits: Iterable<Split>) => {
  const c = emptyCounts();
  for (const s of splits) c[s]++;
  return c;
};

describe('split quotas', () => {
  it('gives 80/10/10 of whole numbers, the remainder to the split that lacks most', () => {
    expect(splitQuotas(10, emptyCounts())).toEqual({ train: 8, val: 1, test: 1 });
    expect(splitQuotas(1, emptyCounts())).toEqual({ train: 1, val: 0, test: 0 });
    expect(splitQuotas(5, emptyCounts())).toEqual({ train: 4, val: 1, test: 0 });
    expect(splitQuotas(0, emptyCounts())).toEqual(emptyCounts());
    expect(splitQuotas(10, emptyCounts(), { train: 0.6, val: 0.2, test: 0.2 })).toEqual({ train: 6, val: 2, test: 2 });
  });

  it('makes up for what existing images lack, and never moves them', () => {
    expect(splitQuotas(10, { train: 80, val: 0, test: 10 })).toEqual({ train: 0, val: 10, test: 0 });
    expect(splitQuotas(2, { train: 0, val: 50, test: 50 })).toEqual({ train: 2, val: 0, test: 0 });
  });

  it('stays at 80/10/10 when images come one at a time', () => {
    const counts = emptyCounts();
    for (let i = 0; i < 100; i++) {
      const q = splitQuotas(1, counts);
      for (const s of ['train', 'val', 'test'] as const) counts[s] += q[s];
    }
    expect(counts).toEqual({ train: 80, val: 10, test: 10 });
  });
});

describe('split assignment', () => {
  const candidates: SplitCandidate[] = [
    ...hashes('cat', 20).map((hash) => ({ hash, stratum: 'class:1' })),
    ...hashes('dog', 10).map((hash) => ({ hash, stratum: 'class:2' })),
    ...hashes('unl', 10).map((hash) => ({ hash, stratum: 'unlabeled' })),
  ];

  it('is stratified: each class and the unlabeled images get 80/10/10 on their own', () => {
    const out = assignSplits(candidates, new Map(), 'seed');
    const of = (prefix: string) => tally(candidates.filter((c) => c.hash.startsWith(prefix)).map((c) => out.get(c.hash)!));
    expect(of('cat')).toEqual({ train: 16, val: 2, test: 2 });
    expect(of('dog')).toEqual({ train: 8, val: 1, test: 1 });
    expect(of('unl')).toEqual({ train: 8, val: 1, test: 1 });
  });

  it('is seeded: the same seed gives the same answer in any input order, another seed another', () => {
    const a = assignSplits(candidates, new Map(), 'seed-a');
    const again = assignSplits([...candidates].reverse(), new Map(), 'seed-a');
    const b = assignSplits(candidates, new Map(), 'seed-b');
    expect([...again].sort()).toEqual([...a].sort());
    expect([...b].sort()).not.toEqual([...a].sort());
  });

  it('balances new images against the counts already there and updates them', () => {
    const counts = new Map<string, SplitCounts>([['class:1', { train: 16, val: 0, test: 2 }]]);
    const out = assignSplits(hashes('new', 4).map((hash) => ({ hash, stratum: 'class:1' })), counts, 's');
    expect(tally(out.values())).toEqual({ train: 2, val: 2, test: 0 });
    expect(counts.get('class:1')).toEqual({ train: 18, val: 2, test: 2 });
  });
});

describe('splits in the project', () => {
  async function classes(n: Record<string, number>, offset = 0): Promise<Record<string, number>> {
    const layout: Record<string, number> = {};
    let seed = 1000 * (offset + 1);
    for (const [c, count] of Object.entries(n)) for (let i = 0; i < count; i++) layout[`${c}/${offset}-${i}.png`] = seed++;
    return layout;
  }

  it('keeps every image’s split when images are added later; new ones are assigned, per class', async () => {
    const project = newProject();
    const first = await folder(await classes({ cat: 30, dog: 20 }));
    await importInto(project, [first]);
    const before = new Map(imagesOf(project).map((i) => [i.hash, i.split]));
    const perClass = (label: string) => tally(imagesOf(project).filter((i) => i.label === label).map((i) => i.split as Split));
    expect(perClass('cat')).toEqual({ train: 24, val: 3, test: 3 });
    expect(perClass('dog')).toEqual({ train: 16, val: 2, test: 2 });

    const second = await folder({ ...(await classes({ cat: 10, dog: 5 }, 1)), 'unsorted.png': 9999 });
    await importInto(project, [second]);
    const after = imagesOf(project);
    for (const i of after) if (before.has(i.hash)) expect(i.split).toBe(before.get(i.hash));
    expect(perClass('cat')).toEqual({ train: 32, val: 4, test: 4 });
    expect(perClass('dog')).toEqual({ train: 20, val: 3, test: 2 });
    expect(after.find((i) => i.name === 'unsorted.png')?.split).toBe('train');
  });

  it('lets split folders win, and does not count them when balancing the rest', async () => {
    const project = newProject();
    await importInto(project, [await folder({ ...(await classes({ 'test/cat': 5 })), ...(await classes({ cat: 10 }, 2)) })]);
    const cats = imagesOf(project);
    expect(tally(cats.filter((i) => i.splitSource === 'folder').map((i) => i.split as Split))).toEqual({ train: 0, val: 0, test: 5 });
    expect(tally(cats.filter((i) => i.splitSource === 'auto').map((i) => i.split as Split))).toEqual({ train: 8, val: 1, test: 1 });
  });

  it('draws each project its own seed, so two projects split the same images differently', async () => {
    const src = await folder(await classes({ cat: 40 }));
    const a = newProject('a.loupe');
    const b = newProject('b.loupe');
    expect(splitSeed(a.db)).not.toBe(splitSeed(b.db));
    await importInto(a, [src]);
    await importInto(b, [src]);
    const splitsOf = (p: typeof a) => imagesOf(p).map((i) => `${i.hash}:${i.split}`).sort();
    expect(splitsOf(a)).not.toEqual(splitsOf(b));
  });
});
