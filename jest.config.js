// Two projects: `unit` needs no services; `integration` (*.int.test.ts) shares one real
// Kafka broker started in global set-up (test/global-setup.ts) for the whole run.
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };
const roots = [
  '<rootDir>/cli',
  '<rootDir>/platform',
  '<rootDir>/schemas',
  '<rootDir>/producers',
  '<rootDir>/streams',
  '<rootDir>/consumers',
  '<rootDir>/dashboards',
  '<rootDir>/test',
];

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 120000,
  // Two cores: one worker for the tests, the broker gets the other.
  maxWorkers: process.env.JEST_MAX_WORKERS ?? 2,
  projects: [
    {
      displayName: 'unit',
      roots,
      transform,
      testEnvironment: 'node',
      testMatch: ['**/*.test.ts'],
      testPathIgnorePatterns: ['\\.int\\.test\\.ts$', '/node_modules/'],
    },
    {
      displayName: 'integration',
      roots,
      transform,
      testEnvironment: 'node',
      testMatch: ['**/*.int.test.ts'],
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
    },
  ],
};
