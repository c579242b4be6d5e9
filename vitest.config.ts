import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests share one machine with 2 cores; native work (sharp, SQLite) runs in parallel anyway.
    pool: 'forks',
    fileParallelism: true,
  },
});
