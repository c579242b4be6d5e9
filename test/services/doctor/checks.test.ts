// Class imbalance from label counts (the pixel checks are tested on generated images in doctor.test.ts).

import { describe, expect, it } from 'vitest';
import { imbalancedClasses } from '../../../src/main/services/doctor/checks';

describe('class imbalance', () => {
  it('flags classes under a third of the largest, and not classes without images yet', () => {
    const classes = [
      { classId: 1, name: 'cat', count: 30 },
      { classId: 2, name: 'dog', count: 10 },
      { classId: 3, name: 'fox', count: 9 },
      { classId: 4, name: 'new', count: 0 },
    ];
    expect(imbalancedClasses(classes).map((c) => [c.cls.name, c.share, c.largest.name])).toEqual([['fox', 0.3, 'cat']]);
    expect(imbalancedClasses(classes.slice(2))).toEqual([]);
  });
});
