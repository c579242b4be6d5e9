import os from 'node:os';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

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

/**
 * One `loupe serve` through 100 training runs, 10,000 label edits and 50 exports, its memory
 * sampled: among the unit files, started first. It ran alone after them while the CLI test's npx
 * could rebuild out/ under it (fixed in test/cli/cli.test.ts); among them it saves about a minute
 * and a half (ci37: 853 s for both against 737 s + 206 s apart in ci36).
 */
const SOAK = 'test/transport/soak.test.ts';

/**
 * The longest test files, started first so that the others fill the second worker around them
 * (with no timings cached, as in a clean clone, Vitest starts the largest files first). Seconds
 * of a clean clone's run, two files at a time: the soak 272 (ci37), kill-training 121, training
 * 118, kill-import 109, kill-export 96 (ci36), evaluate (end to end) 129-190.
 */
const LONGEST = [
  SOAK,
  'test/faults/kill-training.test.ts',
  'test/services/training/training.test.ts',
  'test/faults/kill-import.test.ts',
  'test/faults/kill-export.test.ts',
  'test/e2e/evaluate.e2e.test.ts',
  'test/e2e/job-outlives-tab.e2e.test.ts',
];

/** Vitest's order, with the files of LONGEST moved to the front in that order. */
class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONGEST.findIndex((name) => f.moduleId.endsWith(name));
      return i < 0 ? LONGEST.length : i;
    };
    return sorted.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(({ f }) => f);
  }
}

export default defineConfig({
  test: {
    // Brings the build up to date first: tests that spawn `loupe` run the built app.
    globalSetup: ['test/build-setup.ts'],
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          pool: 'forks',
          maxWorkers: workers,
        },
      },
      {
        // The browser tests of what the UI does, two files at a time (each its own server and Chromium).
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
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
