import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { FeatureExtraction, JobInfo, JobProgress } from '../../src/shared/types';
import { toErrorPayload } from '../../src/main/api/dispatch';
import { Jobs, throwIfCancelled } from '../../src/main/jobs/jobs';
import { ProgressMeter } from '../../src/main/jobs/progress';
import { progressText } from '../../src/main/cli/progress';

function fakeClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** A `features` job's result: the smallest kind's, for work whose outcome is beside the point. */
const extracted: FeatureExtraction = { images: 50, failed: 0, seconds: 0.5 };

function sink() {
  const progress: JobProgress[] = [];
  const finished: JobInfo[] = [];
  return { progress, finished, sink: { progress: (p: JobProgress) => progress.push(p), finished: (i: JobInfo) => finished.push(i) } };
}

describe('progress meter', () => {
  it('writes a CLI progress line with counts, rate and time left, or only the step when it counts nothing', () => {
    expect(progressText(1500, 4000, 'Importing', 312.4, 8.01, 'files')).toBe('Importing: 1,500/4,000  312 files/s  ETA 0:08');
    expect(progressText(7, null, 'Scanning', null, null, 'files')).toBe('Scanning: 7');
    expect(progressText(0, null, 'Converting to ONNX', null, null, 'files')).toBe('Converting to ONNX…');
    expect(progressText(0, 0, 'Preparing images', null, null, 'images')).toBe('Preparing images…');
  });

  it('reports items per second and the time left from a sliding window', () => {
    const clock = fakeClock();
    const meter = new ProgressMeter(clock.now, 5000);
    // The time before the first item (setting up) is not the work's speed: nothing measured yet.
    clock.advance(3000);
    expect(meter.update(100, 1000)).toEqual({ ratePerSecond: null, etaSeconds: null });
    clock.advance(1000);
    expect(meter.update(200, 1000)).toEqual({ ratePerSecond: 100, etaSeconds: 8 });
    clock.advance(1000);
    expect(meter.update(400, 1000)).toEqual({ ratePerSecond: 150, etaSeconds: 600 / 150 });
    // After the window has passed, old samples no longer count: now 50/s.
    for (let i = 0; i < 10; i++) {
      clock.advance(1000);
      meter.update(400 + 50 * (i + 1), 1000);
    }
    expect(meter.update(900, 1000).ratePerSecond).toBeCloseTo(50, 5);
    expect(meter.update(900, null).etaSeconds).toBeNull();
  });

  it('starts a new step when the count goes back, measuring it afresh (no ETA of minutes for a run of seconds)', () => {
    const clock = fakeClock();
    const meter = new ProgressMeter(clock.now, 5000);
    // Step 1: 240 images extracted in 5 s.
    for (let i = 1; i <= 5; i++) {
      clock.advance(1000);
      meter.update(48 * i, 240);
    }
    // Step 2 counts training images from 0; its workers take 2 s to start.
    expect(meter.update(0, 8640)).toEqual({ ratePerSecond: null, etaSeconds: null });
    clock.advance(2000);
    expect(meter.update(64, 8640)).toEqual({ ratePerSecond: null, etaSeconds: null });
    clock.advance(100);
    const first = meter.update(128, 8640);
    expect(first.ratePerSecond).toBeCloseTo(640, 5);
    expect(first.etaSeconds).toBeCloseTo((8640 - 128) / 640, 5);
  });

  it('takes the time left from the expected duration until the step has measured itself, then hands over to the measured rate', () => {
    const clock = fakeClock();
    const meter = new ProgressMeter(clock.now, 5000, 5000);
    meter.update(0, 1000);
    meter.expect(10); // the plan: 1,000 items in 10 s
    clock.advance(1500); // setting up
    // Before any measurement: the plan's rate, 100 items/s; the rate shown stays unmeasured.
    expect(meter.update(0, 1000)).toEqual({ ratePerSecond: null, etaSeconds: 10 });
    expect(meter.update(50, 1000)).toEqual({ ratePerSecond: null, etaSeconds: 9.5 });
    // Measured 50/s for 1 s: a fifth of the way to trusting it alone.
    clock.advance(1000);
    const early = meter.update(100, 1000);
    expect(early.ratePerSecond).toBeCloseTo(50, 5);
    expect(early.etaSeconds).toBeCloseTo(900 / (0.2 * 50 + 0.8 * 100), 5);
    // After 5 s of measurement the measured rate alone decides.
    for (let i = 1; i <= 4; i++) {
      clock.advance(1000);
      meter.update(100 + 50 * i, 1000);
    }
    expect(meter.update(300, 1000).etaSeconds).toBeCloseTo(700 / 50, 5);
    // A new step forgets the expectation.
    expect(meter.update(0, 500)).toEqual({ ratePerSecond: null, etaSeconds: null });
  });
});

describe('jobs', () => {
  it('throttles progress, always delivers the last value, and reports the result', async () => {
    const clock = fakeClock();
    const s = sink();
    const jobs = new Jobs(toErrorPayload, clock.now, 100);
    const { promise } = jobs.start('features', '/p', s.sink, async (r) => {
      for (let i = 1; i <= 50; i++) {
        clock.advance(10);
        r.progress(i, 50, 'Importing');
      }
      return extracted;
    });
    expect(await promise).toEqual(extracted);
    expect(s.progress.length).toBeGreaterThan(2);
    expect(s.progress.length).toBeLessThan(10);
    expect(s.progress.at(-1)).toMatchObject({ done: 50, total: 50, phase: 'Importing' });
    expect(s.finished).toHaveLength(1);
    expect(s.finished[0]).toMatchObject({ kind: 'features', status: 'completed', result: extracted, error: null });
  });

  it('cancels through the signal and records the job as cancelled', async () => {
    const s = sink();
    const jobs = new Jobs(toErrorPayload);
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const { jobId, promise } = jobs.start('train', '/p', s.sink, async (r) => {
      started();
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        throwIfCancelled(r.signal);
      }
    });
    await running;
    jobs.cancel(jobId);
    await expect(promise).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(s.finished[0]).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
    expect(jobs.list('/p')[0].status).toBe('cancelled');
  });

  it('refuses a second exclusive job of the same kind on the same project', async () => {
    const jobs = new Jobs(toErrorPayload);
    let release!: () => void;
    const gate = new Promise<FeatureExtraction>((resolve) => (release = () => resolve(extracted)));
    const first = jobs.start('features', '/p', sink().sink, () => gate, { exclusive: true });
    expect(() => jobs.start('features', '/p', sink().sink, async () => extracted, { exclusive: true })).toThrow(/already running/);
    jobs.start('features', '/other', sink().sink, async () => extracted, { exclusive: true });
    release();
    await first.promise;
    await jobs.start('features', '/p', sink().sink, async () => extracted, { exclusive: true }).promise;
  });

  it('types a job by its kind: its work ends with that kind\'s result, and narrowing on kind reads it', async () => {
    const jobs = new Jobs(toErrorPayload);
    await jobs.start('features', '/p', sink().sink, async (r) => {
      r.progress(1, 1, 'Extracting');
      return extracted;
    }).promise;
    const [job] = jobs.list('/p');
    if (job.kind !== 'features') throw new Error(`unexpected kind ${job.kind}`);
    expect(job.result?.images).toBe(50); // typed FeatureExtraction: no cast
    // Compile-time checks (npm run typecheck): a job cannot end with another kind's result or report another kind's detail.
    const wrongResult = () => {
      // @ts-expect-error a train job ends with a TrainResult
      jobs.start('train', '/p', sink().sink, async () => extracted);
    };
    const wrongDetail = () =>
      jobs.start('features', '/p', sink().sink, async (r) => {
        // @ts-expect-error a features job has no live detail
        r.progress(1, 1, 'Extracting', { imported: 1, duplicates: 0, skipped: 0 });
        return extracted;
      });
    expect([wrongResult, wrongDetail]).toHaveLength(2);
  });

  it('records failures with an error code', async () => {
    const s = sink();
    const jobs = new Jobs(toErrorPayload);
    const { promise } = jobs.start('export', '/p', s.sink, async () => {
      throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
    });
    await expect(promise).rejects.toThrow();
    expect(s.finished[0]).toMatchObject({ status: 'failed', error: { code: 'DISK_FULL' } });
  });

  it('keeps a finished job as its info alone, not what its work left listening on the signal', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const jobs = new Jobs(toErrorPayload);
    let state: WeakRef<object> | null = null;
    const { jobId, promise } = jobs.start('features', '/p', sink().sink, async ({ signal }) => {
      const runState = { buffers: new Float32Array(1024) };
      state = new WeakRef(runState);
      // Work that forgets to remove its listener: the registry must not keep it alive.
      signal.addEventListener('abort', () => runState.buffers.fill(0));
      return extracted;
    });
    await promise;
    await new Promise((r) => setTimeout(r, 0)); // WeakRef targets live until the current task ends
    gc();
    expect(state!.deref()).toBeUndefined();
    expect(jobs.list('/p')).toMatchObject([{ jobId, status: 'completed', result: extracted }]);
    expect(() => jobs.cancel(jobId)).not.toThrow(); // cancelling a finished job does nothing
  });
});
