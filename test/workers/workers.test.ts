import { describe, expect, it } from 'vitest';
import { spawnWorker } from '../../src/main/workers/spawn';

describe('worker threads', () => {
  it('runs a TypeScript worker from source', async () => {
    const worker = spawnWorker('echo');
    try {
      const reply = await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.postMessage({ hello: 1 });
      });
      expect(reply).toEqual({ echo: { hello: 1 } });
    } finally {
      await worker.terminate();
    }
  });
});
