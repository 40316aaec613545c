import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, freeRestartablePorts } from '../platform/local/ports';
import { LOCK_FILE } from '../platform/local/run-lock';
import { GroundTruth } from '../producers/demo/ground-truth';
import { DemoShop } from '../producers/demo/shop';
import { sorted, waitFor } from './helpers';

const ROOT = path.resolve(__dirname, '..');

/** The fenced `sh` blocks of a docs page that come after `marker`, in order. */
export function shellBlocksAfter(page: string, marker: string): string[] {
  const text = readFileSync(path.join(ROOT, 'docs', page), 'utf8');
  const from = text.indexOf(marker);
  if (from < 0) throw new Error(`docs/${page} no longer says ${JSON.stringify(marker)}`);
  return [...text.slice(from).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/**
 * A directory as a user's checkout looks to the commands: `npx tributary` resolves to this
 * project (its bin, which runs the build in dist/), DATA_DIR is ./.tributary, and the Kafka jars
 * the run already fetched are there (they would be fetched on a first run).
 */
function userDirectory(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tributary-docs-'));
  mkdirSync(path.join(dir, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(path.join(ROOT, 'bin', 'tributary.js'), path.join(dir, 'node_modules', '.bin', 'tributary'));
  mkdirSync(path.join(dir, '.tributary'), { mode: 0o700 });
  symlinkSync(process.env.TRIBUTARY_TEST_MAVEN_REPO!, path.join(dir, '.tributary', 'maven'));
  return dir;
}

/** Runs a docs block with bash in `cwd`, as its own process group; its output is collected. */
function runBlock(block: string, cwd: string, env: Record<string, string>): ChildProcess & { output: () => string } {
  const child = spawn('bash', ['-euc', block], {
    cwd,
    env: { ...process.env, ...env, KAFKA_BROKERS: '' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  return Object.assign(child, { output: () => output });
}

async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid!, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, 60_000);
  await exited;
  // The shell leads the group; a broker's JVM in it may still be stopping and writing its data
  // directory: wait until no process of the group is left.
  const gone = () => {
    try {
      process.kill(-child.pid!, 0);
      return undefined;
    } catch {
      return true;
    }
  };
  await waitFor(gone, "every process of the command's group to exit", 90_000, 100);
  clearTimeout(timer);
}

describe('the documented commands, run as printed', () => {
  const running: ChildProcess[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    for (const child of running.reverse()) await stopGroup(child);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('docs/security.md: `tributary kafka --secure`, then client.env, WRITE_KEYS and `tributary start` in a second shell; orders posted with that key are counted', async () => {
    const [broker, start] = shellBlocksAfter('security.md', '**A secure local broker**');
    expect(broker).toMatch(/tributary kafka --secure/);
    expect(start).toMatch(/tributary start/);
    const cwd = userDirectory();
    dirs.push(cwd);
    // The broker listens on 9092 as printed; start's own ports are free ones (a user's environment).
    const first = await freeRestartablePorts(3);
    const env = {
      INGEST_PORT: String(first),
      DASHBOARD_PORT: String(first + 1),
      REGISTRY_PORT: String(first + 2),
      PROCESS_PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
    };
    const kafka = runBlock(broker!, cwd, env);
    running.push(kafka);
    await waitFor(
      () =>
        kafka.output().includes('Kafka broker ready')
          ? true
          : kafka.exitCode !== null
            ? Promise.reject(new Error(`tributary kafka exited: ${kafka.output()}`))
            : undefined,
      'the broker block to print "Kafka broker ready"',
      180_000,
      250,
    );

    const stages = runBlock(start!, cwd, env);
    running.push(stages);
    await waitFor(
      () =>
        stages.output().includes('Tributary is running')
          ? true
          : stages.exitCode !== null
            ? Promise.reject(new Error(`the start block exited: ${stages.output()}`))
            : undefined,
      'the start block to print "Tributary is running"',
      180_000,
      250,
    );
    // The key the block generated, from start's environment.
    const lock = JSON.parse(readFileSync(path.join(cwd, '.tributary', LOCK_FILE), 'utf8')) as { pid: number };
    const environ = readFileSync(`/proc/${lock.pid}/environ`, 'utf8').split('\0');
    const key = environ.find((e) => e.startsWith('WRITE_KEYS='))!.slice('WRITE_KEYS='.length);
    expect(key).toMatch(/^[0-9a-f]{48}$/);
    expect(environ).toContain('KAFKA_SASL_MECHANISM=scram-sha-256');

    const ingest = `http://localhost:${env.INGEST_PORT}`;
    const events = new DemoShop(88, { lateShare: 0, retryShare: 0 }).next(200);
    const res = await fetch(`${ingest}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ events: events.map(({ kind: _k, ...e }) => e) }),
    });
    expect(res.status).toBe(202);
    const truth = new GroundTruth();
    for (const e of events) truth.add(e);
    const from = Date.now() - 4 * 3600_000;
    const to = Date.now() + 120_000;
    const expected = truth.totals(from, to);
    const want = JSON.stringify(
      sorted({ orders: expected.orders, userEvents: expected.userEvents, activeUsers: expected.activeUsers }),
    );
    const url = `http://localhost:${env.DASHBOARD_PORT}/api/totals?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`;
    const read = async () => {
      const body = (await (await fetch(url)).json()) as { orders: unknown; userEvents: unknown; activeUsers: number };
      return JSON.stringify(
        sorted({ orders: body.orders, userEvents: body.userEvents, activeUsers: body.activeUsers }),
      );
    };
    await waitFor(
      async () => ((await read()) === want ? true : undefined),
      '/api/totals to equal the posted orders',
      120_000,
      500,
    ).catch(() => undefined);
    expect(await read()).toBe(want);
  }, 420_000);
});
