import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const TARGET = path.resolve(__dirname, '..', '.tributary', 'python');
const REQUIREMENT = 'confluent-kafka[avro,schemaregistry]==2.16.1';

/**
 * Confluent's Python client, installed from PyPI into .tributary/python on first use, so tests
 * can prove the registry and topics work with a client not written here.
 */
export async function confluentPython(args: string[], env: Record<string, string> = {}): Promise<string> {
  const marker = path.join(TARGET, '.installed-2.16.1');
  if (!existsSync(marker)) {
    await run(
      'python3',
      ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--target', TARGET, REQUIREMENT],
      { timeout: 300_000 },
    );
    await run('touch', [marker]);
  }
  const { stdout } = await run('python3', [path.join(__dirname, 'python', 'confluent_client.py'), ...args], {
    env: { ...process.env, ...env, PYTHONPATH: TARGET },
    timeout: 120_000,
  });
  return stdout.trim();
}
