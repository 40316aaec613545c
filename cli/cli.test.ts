import { execFile } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = path.resolve(__dirname, '../bin/tributary.js');

async function tributary(args: string[], env: NodeJS.ProcessEnv = process.env) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('tributary CLI', () => {
  it('--help lists every command with one line each', async () => {
    const { code, stdout } = await tributary(['--help']);
    expect(code).toBe(0);
    for (const command of ['start', 'demo', 'replay', 'lag', 'dlq', 'kafka', 'topics', 'registry', 'ingest', 'process', 'sink', 'dashboard']) expect(stdout).toMatch(new RegExp(`^  ${command} .+`, 'm'));
  });

  it('kafka without java on the PATH exits non-zero with one line saying what to do', async () => {
    // A PATH holding only node: no java, no mvn.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'no-java-'));
    symlinkSync(process.execPath, path.join(dir, 'node'));
    const env = { PATH: dir, DATA_DIR: dir };
    const { code, stderr } = await tributary(['kafka', '--port', '39092'], env);
    expect(code).not.toBe(0);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tributary: java not found on PATH: install Java 17\+.*KAFKA_BROKERS.*docker compose/);
  });

  it('a bad environment variable fails fast, naming it', async () => {
    const { code, stderr } = await tributary(['topics'], { ...process.env, KAFKA_BROKERS: 'nohostport' });
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('tributary: invalid environment: KAFKA_BROKERS="nohostport": expected host:port');
  });

  it('rejects an out-of-range option naming it', async () => {
    const { code, stderr } = await tributary(['kafka', '--nodes', '7']);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/--nodes must be an integer from 1 to 3/);
  });
});
