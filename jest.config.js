/** One runner for every test: TypeScript through SWC (no type-check at test time; `npm run typecheck` does that). */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest'] },
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/cdktf.out/', '/dist/', '/.build/'],
  testTimeout: 60000,
  globalTeardown: '<rootDir>/test/support/leaked-children.ts',
};
