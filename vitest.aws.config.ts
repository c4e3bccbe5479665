import { defineConfig } from 'vitest/config';

// `npm run test:aws`: the stack deployed into moto_server and the packaged bundles run against it.
export default defineConfig({
  test: {
    include: ['test/aws/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
