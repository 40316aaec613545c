import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { commandLineOf } from '../platform/local/run-lock';
import os from 'node:os';
import path from 'node:path';
import { countBrokers } from '../platform/kafka/client';
import { startOnFreePorts, type LocalKafka } from '../platform/local/kafka';
import { silentLogger } from '../platform/logger';
import { freePort } from '../platform/local/ports';
import { GroundTruth } from '../producers/demo/ground-truth';
import { DemoShop } from '../producers/demo/shop';
import { killAndWait, runTributary, spawnStart, type StartedPipeline } from './pipeline';
import { sorted, waitFor } from './helpers';

/**
 * A broker that requires TLS and SASL/SCRAM (`tributary kafka --secure`'s, certificate by
 * keytool, users by Kafka's storage tool) and the embedded registry behind HTTP Basic users:
 * the whole pipeline (`tributary start`: ingest → processor → sink → dashboard) runs on them
 * with exact totals, and wrong credentials stop a stage with one clear line.
 */
describe('the pipeline on a TLS + SASL/SCRAM broker with a registry behind Basic auth', () => {
  let broker: LocalKafka;
  let started: StartedPipeline | undefined;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tributary-secure-kafka-'));
  const secret = () => randomBytes(12).toString('hex');
  const registryOps = secret();
  const registryStages = secret();
  const readKey = `rk-${secret()}`;
  let env: Record<string, string>;

  /** Command lines of the keytool processes seen while the broker's certificate was made. */
  const keytools: string[] = [];

  beforeAll(async () => {
    // Sample every process's argv while the certificate is made: keytool runs for a second or so each time.
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
          const line = commandLineOf(Number(pid));
          if (line && /keytool/.test(line) && !keytools.includes(line)) keytools.push(line);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    try {
      broker = await startOnFreePorts({
        dataDir,
        mavenRepo: process.env.TRIBUTARY_TEST_MAVEN_REPO!,
        logger: silentLogger,
        heapOpts: '-Xms128m -Xmx512m',
        secure: {},
      });
    } finally {
      sampling = false;
      await sampler;
    }
    const s = broker.security!;
    env = {
      KAFKA_BROKERS: broker.brokers.join(','),
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: s.caFile,
      KAFKA_SASL_MECHANISM: s.sasl.mechanism,
      KAFKA_SASL_USERNAME: s.sasl.username,
      KAFKA_SASL_PASSWORD: s.sasl.password,
      REGISTRY_USERS: `ops:admin:${registryOps},stages:write:${registryStages}`,
      SCHEMA_REGISTRY_USER: 'stages',
      SCHEMA_REGISTRY_PASSWORD: registryStages,
      READ_KEYS: readKey,
    };
  }, 180_000);
  afterAll(async () => {
    if (started) await killAndWait(started.child, 'SIGTERM');
    await broker?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses clients without TLS and SCRAM credentials', async () => {
    await expect(countBrokers(broker.brokers)).rejects.toThrow();
    await expect(
      countBrokers(broker.brokers, {
        sslCa: broker.security!.sslCa,
        sasl: { mechanism: 'scram-sha-256', username: 'tributary', password: 'not-it' },
      }),
    ).rejects.toThrow(/SASL SCRAM SHA256 authentication failed/);
    expect(await countBrokers(broker.brokers, { sslCa: broker.security!.sslCa, sasl: broker.security!.sasl })).toBe(1);
  });

  it("never puts the store password on keytool's command line (it goes in keytool's environment)", () => {
    const { storePassword } = JSON.parse(
      readFileSync(path.join(path.dirname(broker.security!.envFile), 'secrets.json'), 'utf8'),
    ) as { storePassword: string };
    expect(storePassword.length).toBeGreaterThan(8);
    expect(keytools.length).toBeGreaterThan(0);
    expect(keytools.filter((line) => line.includes(storePassword))).toEqual([]);
    expect(keytools.some((line) => line.includes('-storepass:env'))).toBe(true);
  });

  it('keeps the stores, the passwords and the client settings readable by this user only', () => {
    const dir = path.dirname(broker.security!.envFile);
    const mode = (file: string) => (statSync(path.join(dir, file)).mode & 0o777).toString(8);
    expect({
      dir: mode('.'),
      secrets: mode('secrets.json'),
      keystore: mode('broker.p12'),
      truststore: mode('truststore.p12'),
      clientEnv: mode('client.env'),
    }).toEqual({ dir: '700', secrets: '600', keystore: '600', truststore: '600', clientEnv: '600' });
  });

  it('ingest → processor → sink → dashboard: totals equal to the ground truth', async () => {
    started = await spawnStart([], 'secure-key', undefined, env);
    const truth = new GroundTruth();
    const shop = new DemoShop(18, { lateShare: 0.05, retryShare: 0.03, retryWindow: 20 });
    for (let i = 0; i < 5; i++) {
      const events = shop.next(100);
      const res = await fetch(`${started.ingest}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer secure-key' },
        body: JSON.stringify({ events: events.map(({ kind: _k, ...e }) => e) }),
      });
      expect(res.status).toBe(202);
      for (const e of events) truth.add(e);
    }
    const from = Date.now() - 4 * 3600_000;
    const to = Date.now() + 120_000;
    const expected = truth.totals(from, to);
    const want = JSON.stringify(
      sorted({ orders: expected.orders, userEvents: expected.userEvents, activeUsers: expected.activeUsers }),
    );
    const url = `${started.dashboard}/api/totals?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`;
    expect((await fetch(url)).status).toBe(401);
    const read = async () => {
      const body = (await (await fetch(url, { headers: { authorization: `Bearer ${readKey}` } })).json()) as {
        orders: unknown;
        userEvents: unknown;
        activeUsers: number;
      };
      return JSON.stringify(
        sorted({ orders: body.orders, userEvents: body.userEvents, activeUsers: body.activeUsers }),
      );
    };
    await waitFor(
      async () => ((await read()) === want ? true : undefined),
      '/api/totals to equal the ground truth',
      120_000,
      500,
    ).catch(() => undefined);
    expect(await read()).toBe(want);
    // The registry `start` runs takes nothing from anyone without credentials.
    const registry = `http://localhost:${started.env.REGISTRY_PORT}`;
    expect((await fetch(`${registry}/subjects`)).status).toBe(401);
    expect(
      (
        await fetch(`${registry}/subjects`, {
          headers: { authorization: `Basic ${Buffer.from(`ops:${registryOps}`).toString('base64')}` },
        })
      ).status,
    ).toBe(200);
  }, 300_000);

  it("wrong credentials stop a stage with one clear line: Kafka's SCRAM, then the registry's Basic auth", async () => {
    const stageEnv = { ...started!.env, PROCESS_PORT: '0', INGEST_PORT: String(await freePort()) };
    const kafka = await runTributary(['process'], {
      ...stageEnv,
      SCHEMA_REGISTRY_URL: `http://localhost:${started!.env.REGISTRY_PORT}`,
      KAFKA_SASL_PASSWORD: 'wrong-password',
    });
    expect(kafka.code).toBe(1);
    const kafkaLines = kafka.stderr.split('\n').filter((l) => l.startsWith('tributary:'));
    expect(kafkaLines).toEqual([expect.stringMatching(/^tributary: .*SASL SCRAM SHA256 authentication failed/)]);
    expect(kafka.stderr).not.toContain('wrong-password');
    const registry = await runTributary(['ingest'], {
      ...stageEnv,
      SCHEMA_REGISTRY_URL: `http://localhost:${started!.env.REGISTRY_PORT}`,
      SCHEMA_REGISTRY_PASSWORD: 'wrong-password',
    });
    expect(registry.code).toBe(1);
    const registryLines = registry.stderr.split('\n').filter((l) => l.startsWith('tributary:'));
    expect(registryLines).toEqual([
      expect.stringMatching(
        /^tributary: schema registry http:\/\/localhost:\d+ refused register .*: 401 wrong or missing credentials/,
      ),
    ]);
  }, 180_000);
});
