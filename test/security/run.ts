import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createLogger } from '../../platform/logger';
import { freePort } from '../../platform/local/ports';
import { startOnFreePorts } from '../../platform/local/kafka';
import { commandLineOf, LOCK_FILE } from '../../platform/local/run-lock';
import { killAndWait, runTributary, sourceEntry } from '../pipeline';
import { waitFor } from '../helpers';

/**
 * `npm run test:security`: the probes of a network client without credentials (and a few more) against a running
 * `tributary start` with keys and registry users set, each with the answer the secured
 * pipeline must give. Prints a table; exits 1 when any probe gets another answer.
 */
const logger = createLogger(process.env.LOG_LEVEL ?? 'error', 'security');
const run = promisify(execFile);
const secret = (prefix: string) => `${prefix}-${randomBytes(9).toString('hex')}`;

interface Probe {
  probe: string;
  expected: string;
  observed: string;
  ok: boolean;
}
const probes: Probe[] = [];
function record(probe: string, expected: string, observed: string, ok: boolean): void {
  probes.push({ probe, expected, observed, ok });
  logger.info({ probe, observed, ok }, 'probe');
}

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..');
  const kafkaDir = mkdtempSync(path.join(os.tmpdir(), 'tributary-security-kafka-'));
  const broker = await startOnFreePorts({
    dataDir: kafkaDir,
    mavenRepo: path.join(root, '.tributary', 'maven'),
    logger,
    heapOpts: '-Xms128m -Xmx512m',
  });
  const keys = { write: secret('wk'), read: secret('rk'), ops: secret('ops'), stages: secret('stages') };
  const dataDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'tributary-security-')), 'data');
  const ports = {
    ingest: await freePort(),
    dashboard: await freePort(),
    registry: await freePort(),
    process: await freePort(),
  };
  const inflightBytes = 16 * 2 ** 20;
  const env: Record<string, string> = {
    KAFKA_BROKERS: broker.brokers.join(','),
    DATA_DIR: dataDir,
    INGEST_PORT: String(ports.ingest),
    DASHBOARD_PORT: String(ports.dashboard),
    REGISTRY_PORT: String(ports.registry),
    PROCESS_PORT: String(ports.process),
    WRITE_KEYS: keys.write,
    READ_KEYS: keys.read,
    REGISTRY_USERS: `ops:admin:${keys.ops},stages:write:${keys.stages}`,
    SCHEMA_REGISTRY_USER: 'stages',
    SCHEMA_REGISTRY_PASSWORD: keys.stages,
    REGISTRY_MAX_SUBJECTS: '20',
    HTTP_HEADERS_TIMEOUT_MS: '2000',
    HTTP_REQUEST_TIMEOUT_MS: '5000',
    HTTP_MAX_CONNECTIONS: '200',
    INGEST_MAX_INFLIGHT_BYTES: String(inflightBytes),
    INGEST_PRODUCE_TIMEOUT_MS: '3000',
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
  };
  const [node, ...rest] = sourceEntry('cli/main.ts');
  const start: ChildProcess = spawn(node!, [...rest, 'start'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  start.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  start.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const ingest = `http://localhost:${ports.ingest}`;
  const dashboard = `http://localhost:${ports.dashboard}`;
  const registry = `http://localhost:${ports.registry}`;
  try {
    await waitFor(
      () => (stdout.includes('Ctrl-C stops every stage in order.') ? true : undefined),
      'tributary start',
      180_000,
      250,
    );
    await waitFor(
      async () => ((await fetch(`${ingest}/readyz`).catch(() => undefined))?.status === 200 ? true : undefined),
      'ingest ready',
      60_000,
      250,
    );
    const lock = JSON.parse(readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')) as {
      pid: number;
      children: Array<{ pid: number }>;
    };
    const pids = [lock.pid, ...lock.children.map((c) => c.pid)];

    await listeners(pids, Object.values(ports));
    await registryProbes(registry, keys);
    await dashboardProbes(dashboard, ingest, keys, [registry, `http://localhost:${ports.process}`]);
    await streamFlood(dashboard, keys.read);
    await slowClients(ports.dashboard, ports.ingest);
    await connectionCap(ports.ingest, 200);
    await inflight(ingest, keys.write, inflightBytes, broker.pids[0]!, pids);
    secretsOnDisk(dataDir, pids, keys, stderr + stdout);
    await configErrors();
  } finally {
    await killAndWait(start, 'SIGTERM');
    await broker.stop();
  }
  const header = '| probe | expected | observed | as expected |\n|---|---|---|---|';
  const table = probes.map((p) => `| ${p.probe} | ${p.expected} | ${p.observed} | ${p.ok ? 'yes' : 'NO'} |`).join('\n');
  process.stdout.write(`\n${header}\n${table}\n\n`);
  const failed = probes.filter((p) => !p.ok);
  process.stdout.write(
    failed.length === 0
      ? `security: all ${probes.length} probes as expected\n`
      : `security: ${failed.length} of ${probes.length} probes NOT as expected\n`,
  );
  process.exitCode = failed.length === 0 ? 0 : 1;
}

/**
 * `ss -ltnp`: every socket the processes of `start` listen on is on loopback. Waits (with a
 * deadline) until each stage's port is listening: a stage may open its port a moment after
 * `start` reports, and a probe taken then would see fewer listeners, not a wrong address.
 */
async function listeners(pids: number[], expected: number[]): Promise<void> {
  const listening = async (): Promise<string[]> => {
    const { stdout } = await run('ss', ['-ltnpH']);
    const ours = stdout.split('\n').filter((l) => pids.some((pid) => l.includes(`pid=${pid},`)));
    return ours.map((l) => l.trim().split(/\s+/)[3]!).sort();
  };
  const portOf = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));
  let addresses: string[] = [];
  const allListening = async () => {
    addresses = await listening();
    return expected.every((p) => addresses.some((a) => portOf(a) === p)) ? true : undefined;
  };
  await waitFor(allListening, "every stage's port", 30_000, 250).catch(() => undefined); // a missing port is reported below
  const missing = expected.filter((p) => !addresses.some((a) => portOf(a) === p));
  const open = addresses.filter((a) => !a.startsWith('127.0.0.1:') && !a.startsWith('[::1]:'));
  const hosts = addresses.map((a) => a.slice(0, a.lastIndexOf(':'))).filter((a, i, all) => all.indexOf(a) === i);
  const observed = `${addresses.length} listeners: ${hosts.join(', ')}${missing.length > 0 ? `; not listening within 30 s: ${missing.join(', ')}` : ''}`;
  record('`ss -ltnp` during `tributary start`', 'loopback only', observed, missing.length === 0 && open.length === 0);
}

async function call(
  url: string,
  init: { method?: string; auth?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; code?: number }> {
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: {
      'content-type': 'application/vnd.schemaregistry.v1+json',
      ...(init.auth ? { authorization: init.auth } : {}),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  });
  const text = await res.text();
  let code: number | undefined;
  try {
    code = (JSON.parse(text) as { error_code?: number }).error_code;
  } catch {
    /* not JSON */
  }
  return { status: res.status, code };
}
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const show = (r: { status: number; code?: number }) =>
  r.code !== undefined && r.code !== r.status ? `${r.status} (${r.code})` : String(r.status);

async function registryProbes(registry: string, keys: { ops: string; stages: string }): Promise<void> {
  const subject = 'events.orders-value';
  const anonymous = await Promise.all([
    call(`${registry}/config`, { method: 'PUT', body: { compatibility: 'NONE' } }),
    call(`${registry}/subjects/${subject}/versions`, { method: 'POST', body: { schema: '"string"' } }),
    call(`${registry}/subjects/${subject}`, { method: 'DELETE' }),
    call(`${registry}/subjects/${subject}?permanent=true`, { method: 'DELETE' }),
  ]);
  record(
    'registry: PUT /config NONE, register "string", DELETE subject (soft, permanent) without credentials',
    '401 each',
    anonymous.map(show).join(', '),
    anonymous.every((r) => r.status === 401),
  );
  const stages = basic('stages', keys.stages);
  const asWriter = await call(`${registry}/subjects/${subject}`, { method: 'DELETE', auth: stages });
  record(
    "registry: DELETE subject as the stages' user (role write)",
    '403 (40301)',
    show(asWriter),
    asWriter.status === 403 && asWriter.code === 40301,
  );
  const ops = basic('ops', keys.ops);
  const readonly = await call(`${registry}/mode`, { method: 'PUT', auth: ops, body: { mode: 'READONLY' } });
  const write = await call(`${registry}/subjects/probe-value/versions`, {
    method: 'POST',
    auth: ops,
    body: { schema: '"string"' },
  });
  const del = await call(`${registry}/subjects/${subject}`, { method: 'DELETE', auth: ops });
  await call(`${registry}/mode`, { method: 'PUT', auth: ops, body: { mode: 'READWRITE' } });
  record(
    'registry: PUT /mode READONLY (admin), then register and delete',
    '200, then 422 (42205) each',
    `${show(readonly)}, then ${show(write)}, ${show(del)}`,
    readonly.status === 200 && [write, del].every((r) => r.status === 422 && r.code === 42205),
  );
  const junk: number[] = [];
  for (let i = 0; i < 40; i++)
    junk.push(
      (
        await call(`${registry}/subjects/junk-${i}/versions`, {
          method: 'POST',
          auth: stages,
          body: { schema: `{"type":"fixed","name":"J${i}","size":${i + 1}}` },
        })
      ).status,
    );
  const accepted = junk.filter((s) => s === 200).length;
  record(
    'registry: 40 junk subjects (REGISTRY_MAX_SUBJECTS=20)',
    'accepted up to the cap, then 422',
    `${accepted} accepted, ${junk.filter((s) => s === 422).length} × 422`,
    accepted > 0 && accepted <= 18 && junk.slice(accepted).every((s) => s === 422),
  );
  const big = await call(`${registry}/subjects/big-value/versions`, {
    method: 'POST',
    auth: stages,
    body: { schema: JSON.stringify({ type: 'record', name: 'Big', doc: 'x'.repeat(2 * 2 ** 20), fields: [] }) },
  });
  record('registry: a 2 MB schema', '422 (42209)', show(big), big.status === 422 && big.code === 42209);
}

function rawStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (r) => {
        r.resume();
        resolve(r.statusCode!);
      })
      .on('error', reject);
  });
}

async function dashboardProbes(
  dashboard: string,
  ingest: string,
  keys: { read: string; write: string },
  others: string[],
): Promise<void> {
  const totals = `${dashboard}/api/totals`;
  const results = await Promise.all([
    fetch(totals),
    fetch(`${totals}?key=${keys.read}`),
    fetch(`${dashboard}/metrics`),
    fetch(`${ingest}/metrics`),
    fetch(`${dashboard}/api/stream`),
  ]);
  record(
    'dashboard: /api/totals, ?key=<read key>, /metrics (dashboard, ingest), /api/stream without a key in a header',
    '401 each',
    results.map((r) => r.status).join(', '),
    results.every((r) => r.status === 401),
  );
  const withKey = await fetch(`${dashboard}/metrics`, { headers: { authorization: `Bearer ${keys.read}` } });
  record('dashboard: /metrics with the read key', '200', String(withKey.status), withKey.status === 200);
  const rebinding = await Promise.all([
    rawStatus(totals, { host: 'attacker.example', authorization: `Bearer ${keys.read}` }),
    rawStatus(`${ingest}/healthz`, { host: 'attacker.example:8080' }),
    ...others.map((url) => rawStatus(`${url}/healthz`, { host: 'attacker.example' })),
  ]);
  record(
    "DNS rebinding: Host attacker.example to the dashboard, ingest, the registry and the processor's ops port",
    '403 each',
    rebinding.join(', '),
    rebinding.length === 4 && rebinding.every((s) => s === 403),
  );
}

/** 100 streams from one client, then /api/totals latency while they are open. */
async function streamFlood(dashboard: string, readKey: string): Promise<void> {
  const auth = { authorization: `Bearer ${readKey}` };
  const controllers: AbortController[] = [];
  const statuses: number[] = [];
  // The open streams' responses are kept: undici cancels the body of a Response that is garbage
  // collected unread, which closed streams mid-burst and let later requests in (16 open for 8).
  const open: Response[] = [];
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      const abort = new AbortController();
      controllers.push(abort);
      const res = await fetch(`${dashboard}/api/stream`, { headers: auth, signal: abort.signal }).catch(
        () => undefined,
      );
      statuses.push(res?.status ?? 0);
      if (res?.status === 200) open.push(res);
      else await res?.body?.cancel();
    }),
  );
  const latencies: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    await (await fetch(`${dashboard}/api/totals`, { headers: auth })).json();
    latencies.push(performance.now() - t0);
  }
  for (const c of controllers) c.abort();
  open.length = 0;
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.ceil(0.99 * latencies.length) - 1]!;
  const opened = statuses.filter((s) => s === 200).length;
  record(
    'dashboard: 100 SSE connections from one client (per-client cap 8)',
    '8 open, 92 × 429; /api/totals stays fast',
    `${opened} open, ${statuses.filter((s) => s === 429).length} × 429; /api/totals p99 ${Math.round(p99)} ms`,
    opened === 8 && statuses.filter((s) => s === 429).length === 92 && p99 < 2000,
  );
  // After they are gone, the first call is answered at once (no queue of their queries left).
  const t0 = performance.now();
  const after = await fetch(`${dashboard}/api/totals`, { headers: auth });
  const ms = performance.now() - t0;
  record(
    'dashboard: first /api/totals after the streams closed',
    '200 within 2 s',
    `${after.status} in ${Math.round(ms)} ms`,
    after.status === 200 && ms < 2000,
  );
}

/** Sockets that trickle headers or a body are closed by the server (headers 2 s, request 5 s here). */
async function slowClients(dashboardPort: number, ingestPort: number): Promise<void> {
  const held = (port: number, opening: string, drip: string) =>
    new Promise<number>((resolve) => {
      const t0 = performance.now();
      const socket = net.connect(port, '127.0.0.1', () => socket.write(opening));
      const timer = setInterval(() => socket.write(drip), 500);
      const done = () => {
        clearInterval(timer);
        resolve(performance.now() - t0);
      };
      socket.on('close', done);
      socket.on('error', () => undefined);
      setTimeout(() => socket.destroy(), 60_000);
    });
  const headers = await Promise.all(
    Array.from({ length: 50 }, () =>
      held(dashboardPort, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n', 'X-Slow: 1\r\n'),
    ),
  );
  const maxHeaders = Math.max(...headers) / 1000;
  record(
    '50 sockets trickling headers (HTTP_HEADERS_TIMEOUT_MS=2000)',
    'closed by the server within seconds',
    `all closed, the last after ${maxHeaders.toFixed(1)} s`,
    maxHeaders < 6,
  );
  const bodies = await Promise.all(
    Array.from({ length: 20 }, () =>
      held(
        ingestPort,
        'POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{',
        ' ',
      ),
    ),
  );
  const maxBodies = Math.max(...bodies) / 1000;
  record(
    '20 sockets trickling a body (HTTP_REQUEST_TIMEOUT_MS=5000)',
    'closed by the server within seconds',
    `all closed, the last after ${maxBodies.toFixed(1)} s`,
    maxBodies < 10,
  );
}

/** HTTP_MAX_CONNECTIONS=200: of 260 idle sockets to ingest, the server closes at least 60 at once. */
async function connectionCap(port: number, cap: number): Promise<void> {
  const sockets: net.Socket[] = [];
  let closed = 0;
  for (let i = 0; i < cap + 60; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('close', () => {
      closed++;
    });
    socket.on('error', () => undefined);
    sockets.push(socket);
  }
  await waitFor(() => (closed >= 60 ? true : undefined), 'the sockets past the cap to be closed', 10_000, 100).catch(
    () => undefined,
  );
  const atCap = closed;
  for (const s of sockets) s.destroy();
  record(
    `${cap + 60} idle sockets to ingest (HTTP_MAX_CONNECTIONS=${cap})`,
    `at least 60 closed by the server at once`,
    `${atCap} closed`,
    atCap >= 60 && atCap < cap + 60,
  );
}

/** 80 concurrent 1 MB posts while the broker is paused (SIGSTOP): 429 past INGEST_MAX_INFLIGHT_BYTES, ingest's memory bounded. */
async function inflight(
  ingest: string,
  writeKey: string,
  maxBytes: number,
  brokerPid: number,
  pids: number[],
): Promise<void> {
  const ingestPid = pids.find((pid) => / ingest( |$)/.test(commandLineOf(pid) ?? ''));
  const event = (i: number) => ({
    type: 'page_view',
    userId: `u-${i}`,
    occurredAt: new Date().toISOString(),
    page: '/p',
    properties: { pad: 'x'.repeat(900) },
  });
  // A ~1 MB body: 950 events of ~1 KB, under the 1 MiB body limit.
  const payload = JSON.stringify({ events: Array.from({ length: 950 }, (_, i) => event(i)) });
  let peakRss = 0;
  const sampler = setInterval(() => {
    if (ingestPid) peakRss = Math.max(peakRss, rssOf(ingestPid));
  }, 100);
  process.kill(brokerPid, 'SIGSTOP');
  let statuses: number[];
  try {
    statuses = await Promise.all(
      Array.from({ length: 80 }, async () => {
        const res = await fetch(`${ingest}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${writeKey}` },
          body: payload,
        }).catch(() => undefined);
        await res?.text();
        return res?.status ?? 0;
      }),
    );
  } finally {
    process.kill(brokerPid, 'SIGCONT');
    clearInterval(sampler);
  }
  const count = (s: number) => statuses.filter((x) => x === s).length;
  const admitted = Math.floor(maxBytes / payload.length);
  record(
    `80 concurrent ${(payload.length / 2 ** 20).toFixed(1)} MB posts, broker paused (INGEST_MAX_INFLIGHT_BYTES=16 MiB)`,
    `at most ${admitted} admitted (503 after the produce timeout), the rest 429; ingest RSS bounded`,
    `${count(429)} × 429, ${count(503)} × 503, ${count(202)} × 202; ingest peak RSS ${Math.round(peakRss / 2 ** 20)} MiB`,
    count(429) >= 80 - admitted &&
      count(429) + count(503) + count(202) === 80 &&
      peakRss > 0 &&
      peakRss < 600 * 2 ** 20,
  );
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** No secret on any command line or in the logs; DATA_DIR and secret files private. */
function secretsOnDisk(dataDir: string, pids: number[], keys: Record<string, string>, logs: string): void {
  const lines = pids.map((pid) => commandLineOf(pid) ?? '');
  const onArgv = Object.values(keys).filter((k) => lines.some((l) => l.includes(k)));
  record(
    'every process of `start`: /proc/<pid>/cmdline',
    'no key or password',
    onArgv.length === 0 ? `${pids.length} processes, none` : `found ${onArgv.length}`,
    onArgv.length === 0 && pids.length >= 3,
  );
  const inLogs = Object.values(keys).filter((k) => logs.includes(k));
  record(
    'everything `start` and its stages logged (info)',
    'no key or password',
    inLogs.length === 0 ? `${logs.split('\n').length} lines, none` : `found ${inLogs.length}`,
    inLogs.length === 0,
  );
  const mode = (statSync(dataDir).mode & 0o777).toString(8);
  const loose = readdirSync(dataDir, { recursive: true })
    .map(String)
    .filter((f) => /\.properties$|secrets|\.env$|ledger/.test(f))
    .filter((f) => (statSync(path.join(dataDir, f)).mode & 0o077) !== 0);
  const checked = readdirSync(dataDir, { recursive: true })
    .map(String)
    .filter((f) => /\.properties$|secrets|\.env$|ledger/.test(f)).length;
  record(
    'DATA_DIR and files holding secrets',
    'DATA_DIR 0700, secret files 0600',
    `DATA_DIR ${mode}, ${checked} secret file(s)${loose.length ? `; open: ${loose.join(', ')}` : ' all 0600'}`,
    mode === '700' && loose.length === 0,
  );
}

async function configErrors(): Promise<void> {
  const r = await runTributary(['ingest'], {
    CLICKHOUSE_URL: 'ftp://admin:s3cret-pw@db:8123',
    KAFKA_SASL_PASSWORD: 'hunter2-pw',
    KAFKA_SASL_MECHANISM: 'gssapi',
  });
  const leaked = ['s3cret-pw', 'hunter2-pw'].filter((s) => r.stderr.includes(s));
  record(
    'a config error with a password in CLICKHOUSE_URL and KAFKA_SASL_PASSWORD',
    'exit 1, one line, no password',
    `exit ${r.code}, ${r.stderr.trim().split('\n').length} line(s), ${leaked.length === 0 ? 'no password' : 'password shown'}`,
    r.code === 1 && leaked.length === 0,
  );
  const placeholder = await runTributary(['ingest'], { WRITE_KEYS: 'change-me' });
  record(
    'WRITE_KEYS=change-me (copied from an example)',
    'refused at start',
    placeholder.stderr.trim().split('\n').pop()!.slice(0, 80),
    placeholder.code === 1 && placeholder.stderr.includes('placeholder'),
  );
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    process.stderr.write(`security: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
