/** Both projects run the TypeScript sources as native ESM through ts-jest (`useESM`). */
const base = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.check.json' }] },
  testEnvironment: 'node'
}

/** @type {import('jest').Config} */
export default {
  projects: [
    {
      ...base,
      displayName: 'unit',
      testMatch: ['<rootDir>/__tests__/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '\\.itg\\.test\\.ts$']
    },
    {
      ...base,
      displayName: 'integration',
      testMatch: ['<rootDir>/__tests__/**/*.itg.test.ts']
    }
  ],
  // jest-circus reads the timeout from the global config only; per project it is ignored.
  testTimeout: 120000
}
