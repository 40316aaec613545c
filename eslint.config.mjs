import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '.tributary/', 'dist/', 'coverage/', 'bench/results/', 'dashboards/public/vendor/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // A section adds its part to Config by declaration merging: `interface Config extends …Section {}`.
      '@typescript-eslint/no-empty-object-type': ['error', { allowInterfaces: 'with-single-extends' }],
      'no-console': 'off',
    },
  },
  // Type-aware rules over all TypeScript (code, tests, bench, scripts): a promise is awaited,
  // returned or marked `void`, and never passed where a callback's result is ignored.
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  // One error vocabulary (platform/errors.ts): code throws TributaryError (or a subclass) with a
  // code from the closed list, and every error class of ours extends it. Tests, bench and
  // scripts may throw what they like.
  {
    files: ['{cli,producers,streams,consumers,dashboards,schemas,platform}/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "ThrowStatement > NewExpression[callee.name='Error']",
          message: 'throw a TributaryError with a code from ERROR_CODES (platform/errors.ts), not a bare Error',
        },
        {
          selector: "ClassDeclaration[superClass.name='Error'][id.name!='TributaryError']",
          message: 'an error class of ours extends TributaryError (platform/errors.ts)',
        },
      ],
    },
  },
  // The layers of docs/codebase.md: an import only points down (cli → the stages → schemas →
  // platform), the stages never import each other, kafkajs only in platform/kafka, bench not test.
  ...layers(),
  {
    files: ['dashboards/public/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        document: 'readonly',
        window: 'readonly',
        fetch: 'readonly',
        URLSearchParams: 'readonly',
        EventSource: 'readonly',
        Chart: 'readonly',
        Intl: 'readonly',
        console: 'readonly',
      },
    },
  },
  {
    files: ['bin/**/*.js', 'scripts/**/*.js', '*.js', '*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
        console: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);

/** One no-restricted-imports rule per folder: the folders it may not import, and kafkajs outside platform/kafka. */
function layers() {
  const stages = ['producers', 'streams', 'consumers', 'dashboards'];
  const forbidden = {
    platform: ['cli', ...stages, 'schemas', 'test', 'bench'],
    schemas: ['cli', ...stages, 'test', 'bench'],
    ...Object.fromEntries(stages.map((s) => [s, ['cli', ...stages.filter((o) => o !== s), 'test', 'bench']])),
    cli: ['test', 'bench'],
    bench: ['test'],
  };
  const kafkajs = {
    name: 'kafkajs',
    message: 'kafkajs is imported only in platform/kafka/ (its client.ts re-exports the types stages handle)',
  };
  const rule = (folder, banned) => [
    'error',
    {
      paths: [kafkajs],
      patterns: banned.map((b) => ({
        group: [`**/${b}/*`, `**/${b}`],
        message: `${folder}/ may not import ${b}/ (docs/codebase.md: an import only points down, stages never import each other)`,
      })),
    },
  ];
  // Tests beside the code may also use the shared test helpers (test/); an integration test may
  // also drive its stage with another (the producer library feeding the processor, the processor
  // feeding the sink). Code and unit tests may not.
  const unitTests = ['**/*.test.ts'];
  const intTests = ['**/*.int.test.ts'];
  return Object.entries(forbidden).flatMap(([folder, banned]) => [
    {
      files: [`${folder}/**/*.ts`],
      ignores: [...unitTests, ...(folder === 'platform' ? ['platform/kafka/**'] : [])],
      rules: { 'no-restricted-imports': rule(folder, banned) },
    },
    {
      files: unitTests.map((t) => `${folder}/${t}`),
      ignores: [...intTests, ...(folder === 'platform' ? ['platform/kafka/**'] : [])],
      rules: {
        'no-restricted-imports': rule(
          folder,
          banned.filter((b) => b !== 'test'),
        ),
      },
    },
    {
      files: intTests.map((t) => `${folder}/${t}`),
      ignores: folder === 'platform' ? ['platform/kafka/**'] : [],
      rules: {
        'no-restricted-imports': rule(
          folder,
          banned.filter((b) => b !== 'test' && !(stages.includes(folder) && stages.includes(b))),
        ),
      },
    },
  ]);
}
