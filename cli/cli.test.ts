import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { CliContext } from './context';
import { runCli } from './main';

/** Runs `tributary <args>` in this process, capturing what it prints. */
async function tributary(args: string[], env: NodeJS.ProcessEnv = process.env) {
  let stdout = '';
  let stderr = '';
  const ctx: CliContext = {
    env,
    out: (t) => {
      stdout += t;
    },
    err: (t) => {
      stderr += t;
    },
    self: [],
  };
  const code = await runCli(['node', 'tributary', ...args], ctx);
  return { code, stdout, stderr };
}

const COMMANDS = [
  'start',
  'demo',
  'replay',
  'lag',
  'dlq',
  'kafka',
  'topics',
  'registry',
  'ingest',
  'process',
  'sink',
  'dashboard',
];

describe('tributary CLI', () => {
  it('--help lists every command with one line each', async () => {
    const { code, stdout } = await tributary(['--help']);
    expect(code).toBe(0);
    for (const command of COMMANDS) expect(stdout).toMatch(new RegExp(`^  ${command} .+`, 'm'));
  });

  it('kafka without java on the PATH exits non-zero with one line saying what to do, leaving nothing behind', async () => {
    // A PATH holding only node: no java, no mvn.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'no-java-'));
    symlinkSync(process.execPath, path.join(dir, 'node'));
    // In-process, the launcher must look java up on the command's PATH, not this process's: a first
    // version of this test found java that way, fetched the Kafka jars into DATA_DIR and started a broker.
    const { code, stderr } = await tributary(['kafka', '--port', '39092'], {
      PATH: dir,
      DATA_DIR: path.join(dir, 'data'),
    });
    expect(code).not.toBe(0);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tributary: java not found on PATH: install Java 17\+.*KAFKA_BROKERS.*docker compose/);
    expect(readdirSync(dir)).toEqual(['node']);
  });

  it('operability: kafka with a DATA_DIR that cannot be written says so in one line', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'bad-data-dir-')), 'file');
    writeFileSync(file, 'x');
    const { code, stderr } = await tributary(['kafka', '--port', '39092'], {
      ...process.env,
      DATA_DIR: path.join(file, 'data'),
      KAFKA_BROKERS: '',
    });
    expect(code).not.toBe(0);
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^tributary: DATA_DIR .*file\/data is not writable \(ENOTDIR: a file is in the way\)/),
    ]);
  });

  it('a bad environment variable fails fast, naming it', async () => {
    const { code, stderr } = await tributary(['topics'], { ...process.env, KAFKA_BROKERS: 'nohostport' });
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('tributary: invalid environment: KAFKA_BROKERS="nohostport": expected host:port');
  });

  it("refuses a --port whose nodes' ports would pass 65535, before starting anything", async () => {
    const { code, stderr } = await tributary(['kafka', '--nodes', '3', '--port', '65531']);
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('tributary: --port 65531: 3 node(s) need ports 65531 to 65536, past 65535');
    expect((await tributary(['kafka', '--port', '65535'])).stderr).toMatch(
      /--port must be an integer from 1024 to 65534/,
    );
  });

  it('rejects an out-of-range option naming it', async () => {
    const { code, stderr } = await tributary(['kafka', '--nodes', '7']);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/--nodes must be an integer from 1 to 3/);
  });
});

/**
 * The one spawned test: the program as users run it, bin/tributary.js on the compiled dist/
 * (`npm test` builds first), with no TypeScript compiler loaded.
 */
describe('bin/tributary.js (compiled)', () => {
  it('runs the built CLI: help on stdout, a bad variable as one line on stderr and exit 1', async () => {
    const bin = path.resolve(__dirname, '..', 'bin', 'tributary.js');
    const run = promisify(execFile);
    const help = await run(process.execPath, [bin, '--help']);
    for (const command of COMMANDS) expect(help.stdout).toMatch(new RegExp(`^  ${command} .+`, 'm'));
    const failed = await run(process.execPath, [bin, 'topics'], {
      env: { ...process.env, KAFKA_BROKERS: 'nohostport' },
    }).catch((err: unknown) => err as { code: number; stderr: string });
    expect(failed).toMatchObject({
      code: 1,
      stderr: 'tributary: invalid environment: KAFKA_BROKERS="nohostport": expected host:port\n',
    });
  });
});
