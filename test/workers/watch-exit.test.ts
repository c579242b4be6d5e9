// A group of workers that each post a last message and then end by themselves (training
// replicas, prediction workers): one that ends after its last message is fine however long the
// others still take; one that ends before it is reported. (The training service's check once
// counted the group's finished workers instead, so a replica that ended a second before its
// sibling finished failed the run.)

import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { watchExit } from '../../src/main/workers/spawn';

/** A real worker that posts 'done' after `afterMs` (or never, `null`) and then ends by itself. */
function ending(afterMs: number | null, exitCode = 0): Worker {
  const body =
    afterMs === null
      ? `process.exit(${exitCode});`
      : `setTimeout(() => { require('node:worker_threads').parentPort.postMessage('done'); }, ${afterMs});`;
  return new Worker(body, { eval: true });
}

/** Watches `worker` as the services do: `done()` on its last message, each report kept. */
function watch(worker: Worker, graceMs: number): { reported: number[]; exited: Promise<number> } {
  const reported: number[] = [];
  const exit = watchExit(worker, (code) => reported.push(code), graceMs);
  worker.on('message', (msg) => msg === 'done' && exit.done());
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  return { reported, exited };
}

describe('watchExit', () => {
  afterEach(() => vi.useRealTimers());

  it('does not report a worker that ended after it said it was done, while another one is still at work', async () => {
    const fast = watch(ending(0), 1000);
    const slow = watch(ending(1500), 1000);
    await fast.exited;
    await slow.exited; // 1.5 s: past the fast worker's grace of 1 s
    // (The fast worker's grace timer was set before this wait's, so it has fired by its end.)
    await new Promise((r) => setTimeout(r, 1100));
    expect(fast.reported).toEqual([]);
    expect(slow.reported).toEqual([]);
  });

  it('reports a worker that ended before it said it was done: a crash at once, a normal exit after the grace', async () => {
    const crashed = watch(ending(null, 3), 1000);
    expect(await crashed.exited).toBe(3);
    await new Promise((r) => setTimeout(r, 50));
    expect(crashed.reported).toEqual([3]);

    const quiet = watch(ending(null, 0), 300);
    expect(await quiet.exited).toBe(0);
    expect(quiet.reported).toEqual([]); // still within its grace
    await new Promise((r) => setTimeout(r, 500));
    expect(quiet.reported).toEqual([0]);
  });

  it('takes a last message that arrives within the grace, and reports nothing once disposed', () => {
    vi.useFakeTimers();
    const late = new EventEmitter();
    const reported: number[] = [];
    const exit = watchExit(late, (code) => reported.push(code), 1000);
    late.emit('exit', 0);
    vi.advanceTimersByTime(500);
    exit.done();
    vi.advanceTimersByTime(5000);
    expect(reported).toEqual([]);

    const gone = new EventEmitter();
    const disposed = watchExit(gone, (code) => reported.push(code), 1000);
    gone.emit('exit', 0);
    disposed.dispose();
    vi.advanceTimersByTime(5000);
    expect(reported).toEqual([]);
  });
});
