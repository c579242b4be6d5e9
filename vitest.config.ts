import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Brings the build up to date first: tests that spawn `loupe` run the built app.
    globalSetup: ['test/build-setup.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          pool: 'forks',
        },
      },
      {
        // The browser tests measure latency: one file at a time, nothing else competing.
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: 'forks',
          fileParallelism: false,
        },
      },
    ],
  },
});
