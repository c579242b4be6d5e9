// The data statistics a plan is made from, for planner tests: a class per name with `perClass`
// images in each split; the totals follow from the classes. Images are 32x32 colour unless `over`
// says otherwise (`over` may also replace the classes or any total).

import type { TrainDataStats } from '../../../src/shared/types';

export function dataStats(
  over: Partial<TrainDataStats> = {},
  perClass: { train: number; val: number; test: number } = { train: 96, val: 12, test: 12 },
  names: string[] = ['a', 'b'],
): TrainDataStats {
  const classes = names.map((name, i) => ({ id: i + 1, name, ...perClass }));
  return {
    classes,
    train: perClass.train * names.length,
    val: perClass.val * names.length,
    test: perClass.test * names.length,
    excluded: 0,
    heldOut: 0,
    medianWidth: 32,
    medianHeight: 32,
    greyscale: false,
    ...over,
  };
}
