import { afterEach, describe, expect, it, vi } from 'vitest';
import { timeSteps, WARM_UP_STEPS } from '../../../src/main/services/training/throughput';
import { seededRandom } from '../../../src/main/services/rng';

afterEach(() => vi.useRealTimers());

/** A stand-in engine whose steps take `ms(i)` of (fake) time, the i-th counted from 1. */
function engine(ms: (i: number) => number) {
  let calls = 0;
  const inputs: number[] = [];
  return {
    inputs,
    get calls() {
      return calls;
    },
    step(x: Float32Array, _labels: Int32Array, n: number) {
      calls++;
      inputs.push(x.length / n);
      vi.advanceTimersByTime(ms(calls));
      return Promise.resolve({ loss: 0, correct: 0, n, stop: false });
    },
  };
}

describe('timeSteps (the plan’s training-speed measurement)', () => {
  it('times the steady state, not onnxruntime’s two slow first runs of a session', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    // onnxruntime here: the whole of MobileNet v1 took about 1 s for each of its first two steps, then 0.3-0.4 s.
    const fake = engine((i) => (i <= 2 ? 1000 : 50));
    const rate = await timeSteps(fake, 12, 32, 10, 0.001, seededRandom(1));
    // 32 images every 50 ms; with one warm-up step the second 1 s step was timed too (about 87 images/s).
    expect(rate).toBeCloseTo(640, 6);
    expect(fake.inputs.every((size) => size === 12)).toBe(true);
  });

  it('times at least three steps, however slow', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const fake = engine(() => 2000);
    const rate = await timeSteps(fake, 4, 8, 2, 0.001, seededRandom(1));
    expect(fake.calls).toBe(WARM_UP_STEPS + 3);
    expect(rate).toBeCloseTo(4, 6);
  });
});
