import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { envSchema, loadConfig } from '../platform/config';
import { buildProgram } from '../cli/main';
import { processContext } from '../cli/context';

/** docker-compose.yml cannot run here (no Docker engine); this keeps it honest by reading. */
describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(path.join(__dirname, '..', 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, { build?: unknown; environment?: Record<string, string | number>; depends_on?: Record<string, unknown>; command?: string[] }>;
  };
  const services = compose.services;
  const tributary = Object.entries(services).filter(([, s]) => s.build !== undefined);

  it('builds the Tributary stages from the Dockerfile, each running a real CLI command', () => {
    expect(tributary.map(([name]) => name)).toEqual(expect.arrayContaining(['ingest', 'process', 'sink', 'dashboard']));
    const commands = buildProgram(processContext()).commands.map((c) => c.name());
    for (const [, service] of tributary) expect(commands).toContain(service.command?.[0]);
  });

  it.each(Object.keys(services).filter((n) => services[n]!.build !== undefined))('%s: its environment passes the config schema and points at services in the file', (name) => {
    const env = Object.fromEntries(Object.entries(services[name]!.environment ?? {}).map(([k, v]) => [k, String(v)]));
    const unknown = Object.keys(env).filter((k) => !(k in envSchema.shape));
    expect(unknown).toEqual([]);
    const config = loadConfig(env);
    const hosts = [
      ...config.kafka.brokers.map((b) => b.split(':')[0]!),
      new URL(config.registry.url).hostname,
      new URL(config.clickhouse.url ?? 'http://missing').hostname,
      ...(config.bridge.rabbitmqUrl ? [new URL(config.bridge.rabbitmqUrl).hostname] : []),
      ...(config.bridge.sqsQueueUrl ? [new URL(config.bridge.sqsQueueUrl).hostname] : []),
    ];
    for (const host of hosts) expect(Object.keys(services)).toContain(host);
    // The Kafka listener it uses is the one the broker advertises inside the compose network.
    expect(String(services.kafka!.environment!.KAFKA_ADVERTISED_LISTENERS)).toContain(`PLAINTEXT://${config.kafka.brokers[0]}`);
    expect(config.clickhouse.user).toBe(String(services.clickhouse!.environment!.CLICKHOUSE_USER));
    expect(config.clickhouse.password).toBe(String(services.clickhouse!.environment!.CLICKHOUSE_PASSWORD));
    for (const dep of Object.keys(services[name]!.depends_on ?? {})) expect(Object.keys(services)).toContain(dep);
  });
});
