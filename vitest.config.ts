import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // Tests spawn the CLI and native tokenizers; two cores cannot run many files at once usefully.
    maxWorkers: 2,
    setupFiles: ['test/helpers/temp-root.ts'],
  },
});
