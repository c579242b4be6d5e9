// `npm run bench:train -- --dataset ...` prints each epoch's throughput from the run's history and
// compares the run's first half with its second, so a decay within a run shows.

import { describe, expect, it } from 'vitest';
import type { EpochMetrics } from '../../src/shared/types';
import { epochReport } from '../../bench/epoch-report';

const epoch = (n: number, imagesPerSecond: number, seconds: number): EpochMetrics => ({
  epoch: n,
  trainLoss: 0.5,
  trainAccuracy: 0.8,
  valLoss: 0.6,
  valAccuracy: 0.75,
  learningRate: 0.001,
  seconds,
  imagesPerSecond,
});

describe('epochReport', () => {
  it('lists every epoch with its seconds and rate, and the second half slower than the first', () => {
    // The Fashion-MNIST run: about 50 s per epoch, then 87, 95 and 105 s.
    const history = [epoch(1, 1200, 50), epoch(2, 1190, 50.4), epoch(3, 690, 87), epoch(4, 560, 105)];
    const lines = epochReport(history);
    expect(lines).toHaveLength(1 + 4 + 1);
    expect(lines[3]).toMatch(/^\s+3\s+87\.0\s+690\s+75\.00%$/);
    expect(lines[5]).toBe('Per-epoch rate: first 2 epochs 1,195 img/s, last 2 625 img/s (-47.7%); slowest epoch 560, fastest 1,200 img/s');
  });

  it('says the rate held when it did, and leaves the summary out for one epoch', () => {
    expect(epochReport([epoch(1, 1000, 10), epoch(2, 1010, 10), epoch(3, 1020, 10)]).at(-1)).toContain('first 1 epochs 1,000 img/s, last 1 1,020 img/s (+2.0%)');
    expect(epochReport([epoch(1, 1000, 10)])).toHaveLength(2);
  });
});
