// The map worker's work: a whole layout, or new images placed among a layout's points.

import { layout, placeAmong, projectWith } from './layout';
import type { FromMapWorker, ToMapWorker } from './protocol';

export async function runMapWork(msg: ToMapWorker, post: (msg: FromMapWorker, transfer?: ArrayBuffer[]) => void): Promise<void> {
  if (msg.mode === 'layout') {
    let lastPost = 0;
    const result = await layout(msg.rows, msg.n, msg.f, msg.settings, (done, total, phase) => {
      const now = performance.now();
      if (now - lastPost > 100 || done === total) {
        lastPost = now;
        post({ type: 'progress', done, total, phase });
      }
    });
    if (!result) return;
    const { basis, reduced, coords } = result;
    post({ type: 'layout', basis, reduced, coords }, [reduced.buffer as ArrayBuffer, coords.buffer as ArrayBuffer]);
    return;
  }
  post({ type: 'progress', done: 0, total: msg.n, phase: 'Placing new images' });
  const reduced = await projectWith(msg.basis, msg.rows, msg.n);
  const coords = await placeAmong(reduced, msg.n, msg.base, msg.coords, msg.m, msg.basis.dims, msg.neighbours);
  post({ type: 'placed', reduced, coords }, [reduced.buffer as ArrayBuffer, coords.buffer as ArrayBuffer]);
}
