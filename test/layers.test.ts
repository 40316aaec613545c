import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The layers of docs/codebase.md are a lint rule (eslint.config.mjs), run by `npm test`: these
 * deliberate violations must each be refused, and the allowed imports not. The probes are written
 * into the folders for one eslint run (its CLI: the config loads by dynamic import, which jest's
 * module system does not run), and removed after.
 */
describe('the import boundaries', () => {
  const root = path.resolve(__dirname, '..');
  const cases: Array<[string, string, RegExp | null]> = [
    [
      'schemas/layer-probe-1.ts',
      "import { startIngest as imported } from '../producers/ingest/service';",
      /schemas\/ may not import producers\//,
    ],
    [
      'platform/layer-probe-2.ts',
      "import { SCHEMAS as imported } from '../schemas/catalog';",
      /platform\/ may not import schemas\//,
    ],
    [
      'streams/layer-probe-3.ts',
      "import { SinkService as imported } from '../consumers/sink';",
      /streams\/ may not import consumers\//,
    ],
    [
      'consumers/layer-probe-4.ts',
      "import { Kafka as imported } from 'kafkajs';",
      /kafkajs is imported only in platform\/kafka/,
    ],
    [
      'bench/layer-probe-5.ts',
      "import { waitFor as imported } from '../test/helpers';",
      /bench\/ may not import test\//,
    ],
    [
      'producers/layer-probe-6.ts',
      "import { waitFor as imported } from '../test/helpers';",
      /producers\/ may not import test\//,
    ],
    ['cli/layer-probe-7.ts', "import { startIngest as imported } from '../producers/ingest/service';", null],
    ['streams/layer-probe-8.ts', "import { SCHEMAS as imported } from '../schemas/catalog';", null],
    ['platform/kafka/layer-probe-9.ts', "import { Kafka as imported } from 'kafkajs';", null],
    ['producers/layer-probe-10.test.ts', "import { waitFor as imported } from '../test/helpers';", null],
    // An integration test may drive its stage with another; a unit test may not.
    ['streams/layer-probe-14.int.test.ts', "import { DemoShop as imported } from '../producers/demo/shop';", null],
    [
      'streams/layer-probe-15.test.ts',
      "import { DemoShop as imported } from '../producers/demo/shop';",
      /streams\/ may not import producers\//,
    ],
  ];
  /** And a promise left floating, refused by the type-aware rules. */
  const floating = 'streams/layer-probe-11.ts';
  /** And errors outside the vocabulary of platform/errors.ts: a bare Error thrown, an error class not extending TributaryError. */
  const bareErrors = 'consumers/layer-probe-12.ts';
  const bareErrorsInTest = 'consumers/layer-probe-13.test.ts';
  const bareErrorSource =
    "export class Oops extends Error {}\nexport function fail(): never {\n  throw new Error('no code');\n}\n";

  it('refuses imports up the layers, across stages, of kafkajs outside platform/kafka and of test/ outside tests, a floating promise and errors without a code; allows the rest', () => {
    let output: string;
    try {
      for (const [file, source] of cases)
        writeFileSync(path.join(root, file), `${source}\nexport const used = imported;\n`);
      writeFileSync(
        path.join(root, floating),
        'export async function later(): Promise<void> {}\nexport function now(): void {\n  later();\n}\n',
      );
      writeFileSync(path.join(root, bareErrors), bareErrorSource);
      writeFileSync(path.join(root, bareErrorsInTest), bareErrorSource);
      const run = spawnSync(
        process.execPath,
        [
          path.join(root, 'node_modules', 'eslint', 'bin', 'eslint.js'),
          '--format',
          'json',
          ...cases.map(([f]) => f),
          floating,
          bareErrors,
          bareErrorsInTest,
        ],
        { cwd: root, encoding: 'utf8' },
      );
      output = run.stdout;
    } finally {
      for (const file of [...cases.map(([f]) => f), floating, bareErrors, bareErrorsInTest])
        rmSync(path.join(root, file), { force: true });
    }
    const results = JSON.parse(output) as Array<{
      filePath: string;
      messages: Array<{ ruleId: string | null; message: string }>;
    }>;
    for (const [file, , expected] of cases) {
      const messages = results
        .find((r) => r.filePath === path.join(root, file))!
        .messages.filter((m) => m.ruleId === 'no-restricted-imports')
        .map((m) => m.message);
      expect({ file, messages }).toEqual({ file, messages: expected ? [expect.stringMatching(expected)] : [] });
    }
    expect(results.find((r) => r.filePath === path.join(root, floating))!.messages.map((m) => m.ruleId)).toEqual([
      '@typescript-eslint/no-floating-promises',
    ]);
    const restricted = (file: string) =>
      results
        .find((r) => r.filePath === path.join(root, file))!
        .messages.filter((m) => m.ruleId === 'no-restricted-syntax')
        .map((m) => m.message);
    expect(restricted(bareErrors)).toEqual([
      expect.stringMatching(/extends TributaryError/),
      expect.stringMatching(/throw a TributaryError with a code/),
    ]);
    expect(restricted(bareErrorsInTest)).toEqual([]);
  });
});
