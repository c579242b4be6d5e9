import os from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * The end-to-end tests that measure latency or frame rates in the browser (held to generous
 * multiples of their targets): they run alone, one file at a time, after the others.
 */
const TIMED_E2E = ['test/e2e/load-100k.e2e.test.ts', 'test/e2e/large-project.e2e.test.ts', 'test/e2e/responsive-training.e2e.test.ts', 'test/e2e/map.e2e.test.ts'];

/**
 * Two test files at a time even on 2 cores (Vitest's default is one fewer than the cores): many
 * wait on child processes they spawn. On 2-core machines the unit suite took 1,055 s with two
 * against 1,489 s with one (CI's run before the change), and 871 s in a clean clone's .ci/run once
 * the fault tests started the built CLI too.
 */
const workers = Math.max(2, os.availableParallelism() - 1);

/** One `loupe serve` through 100 training runs, 10,000 label edits and 50 exports, its memory sampled (no time bound). */
const SOAK = 'test/transport/soak.test.ts';

export default defineConfig({
  test: {
    // Brings the build up to date first: tests that spawn `loupe` run the built app.
    globalSetup: ['test/build-setup.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**', SOAK],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          pool: 'forks',
          maxWorkers: workers,
        },
      },
      {
        // The tests of the served app through its web API: the browser tests of what the UI does
        // (each its own server and Chromium) and the soak test (one server through a long day),
        // two files at a time. (The soak test ran alone for a while after one of its training
        // runs failed beside other files: a replica that ended before its sibling was judged by
        // the group's count. Fixed in workers/spawn.ts watchExit.)
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts', SOAK],
          exclude: TIMED_E2E,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: 'forks',
          maxWorkers: 2,
        },
      },
      {
        // The browser tests that measure latency: one file at a time, nothing else competing.
        test: {
          name: 'e2e-timed',
          include: TIMED_E2E,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: 'forks',
          fileParallelism: false,
        },
      },
    ],
  },
});
