import { describe, expect, it } from 'vitest';
import { mergeIds } from '../../src/renderer/src/lib/id-lists';

describe('mergeIds (a gallery list after undo or redo)', () => {
  it('keeps ids that left the filter where they were', () => {
    // Unlabeled view: 2 and 4 were labeled here; undoing the label of 3 brings nothing new.
    expect(mergeIds([1, 2, 3, 4, 5], [1, 3, 5])).toEqual([1, 2, 3, 4, 5]);
  });

  it('puts ids that came back (an undone removal) in gallery order', () => {
    expect(mergeIds([1, 4, 6], [1, 2, 3, 4, 5, 6, 7])).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(mergeIds([1, 9, 4], [0, 1, 2, 4])).toEqual([0, 1, 9, 2, 4]);
  });

  it('keeps the order of `fresh` where the two lists disagree, with no duplicates', () => {
    expect(mergeIds([3, 2, 1], [1, 2, 3])).toEqual([1, 2, 3]);
    expect(mergeIds([], [5, 6])).toEqual([5, 6]);
    expect(mergeIds([5, 6], [])).toEqual([5, 6]);
  });
});
