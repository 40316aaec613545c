import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { envSchema, loadConfig } from '../cli/config';
import { buildProgram } from '../cli/main';
import { processContext } from '../cli/context';

/** docker-compose.yml cannot run here (no Docker engine); this keeps it honest by reading. */
describe('docker-compose.yml', () => {
  // Comments are not interpolated (YAML drops them first).
  const text = readFileSync(path.join(__dirname, '..', 'docker-compose.yml'), 'utf8')
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n');
  // What a user exports before `docker compose up` (the file's header says how).
  const exported: Record<string, string> = {
    TRIBUTARY_WRITE_KEYS: 'wk-4f1c2a9e',
    TRIBUTARY_READ_KEYS: 'rk-7d3b8e10',
    CLICKHOUSE_PASSWORD: 'ch-5a6b7c8d',
    RABBITMQ_PASSWORD: 'mq-1e2f3a4b',
  };
  /** Compose's interpolation: ${VAR:?message} needs VAR, ${VAR:-default} falls back, $$ is a literal $. */
  const interpolate = (source: string, vars: Record<string, string>) =>
    source
      .replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) => {
        if (vars[name]) return vars[name]!;
        if (op === '?') throw new Error(`required variable ${name} is missing a value: ${arg}`);
        return op === '-' ? (arg ?? '') : '';
      })
      .replace(/\$\$/g, '$');
  const compose = parse(interpolate(text, exported), { merge: true }) as {
    services: Record<
      string,
      {
        build?: unknown;
        environment?: Record<string, string | number>;
        depends_on?: Record<string, unknown>;
        command?: string[];
        ports?: string[];
        entrypoint?: string[];
      }
    >;
  };
  const services = compose.services;
  const tributary = Object.entries(services).filter(([, s]) => s.build !== undefined);

  it('security: no secret has a default, compose refuses to start without each, and every published port is on 127.0.0.1', () => {
    // Defaults (${VAR:-x}) only for the profile-gated RabbitMQ password, and empty: its container refuses to start without it.
    const defaults = [...text.matchAll(/\$\{(\w+):-([^}]*)\}/g)].map((m) => [m[1], m[2]]);
    expect(defaults.every(([name, value]) => name === 'RABBITMQ_PASSWORD' && value === '')).toBe(true);
    expect(compose.services.rabbitmq!.entrypoint!.join(' ')).toContain('[ -n "$RABBITMQ_DEFAULT_PASS" ] || {');
    for (const required of ['TRIBUTARY_WRITE_KEYS', 'TRIBUTARY_READ_KEYS', 'CLICKHOUSE_PASSWORD']) {
      expect(() => interpolate(text, { ...exported, [required]: '' })).toThrow(
        `required variable ${required} is missing a value`,
      );
    }
    expect(text).not.toMatch(/guest|change-me|PASSWORD: tributary/);
    const ports = Object.values(compose.services).flatMap((s) => s.ports ?? []);
    expect(ports.length).toBeGreaterThanOrEqual(7);
    expect(ports.filter((p) => !p.startsWith('127.0.0.1:'))).toEqual([]);
    // And a placeholder copied into the variables is refused by Tributary itself.
    const ingest = Object.fromEntries(
      Object.entries(
        parse(interpolate(text, { ...exported, TRIBUTARY_WRITE_KEYS: 'change-me' }), { merge: true }).services.ingest
          .environment,
      ).map(([k, v]) => [k, String(v)]),
    );
    expect(() => loadConfig(ingest)).toThrow('WRITE_KEYS holds a placeholder');
    // An empty RabbitMQ password (the variable unset) stops the bridge with one line, too.
    const bridge = Object.fromEntries(
      Object.entries(
        parse(interpolate(text, { ...exported, RABBITMQ_PASSWORD: '' }), { merge: true }).services['bridge-rabbitmq']
          .environment,
      ).map(([k, v]) => [k, String(v)]),
    );
    expect(() => loadConfig(bridge)).toThrow("RABBITMQ_URL's password holds a placeholder");
  });

  it("copies into the image's build stage every file the build copies beside the compiled code", () => {
    const dockerfile = readFileSync(path.join(__dirname, '..', 'Dockerfile'), 'utf8');
    const build = dockerfile.slice(0, dockerfile.indexOf('RUN npm run build'));
    const copied = [...build.matchAll(/^COPY (\S+) \.\/\S*$/gm)].map((m) => m[1]!);
    const assets = [
      ...readFileSync(path.join(__dirname, '..', 'scripts', 'copy-assets.js'), 'utf8').matchAll(
        /'([a-z/]+(?:\.[a-z]+)?)'/g,
      ),
    ]
      .map((m) => m[1]!)
      .filter((a) => a.includes('/'));
    expect(assets.length).toBeGreaterThan(4);
    expect(assets.filter((a) => !copied.some((c) => a === c || a.startsWith(`${c}/`)))).toEqual([]);
  });

  it('builds the Tributary stages from the Dockerfile, each running a real CLI command', () => {
    expect(tributary.map(([name]) => name)).toEqual(expect.arrayContaining(['ingest', 'process', 'sink', 'dashboard']));
    const commands = buildProgram(processContext()).commands.map((c) => c.name());
    for (const [, service] of tributary) expect(commands).toContain(service.command?.[0]);
  });

  it.each(Object.keys(services).filter((n) => services[n]!.build !== undefined))(
    '%s: its environment passes the config schema and points at services in the file',
    (name) => {
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
      expect(String(services.kafka!.environment!.KAFKA_ADVERTISED_LISTENERS)).toContain(
        `PLAINTEXT://${config.kafka.brokers[0]}`,
      );
      expect(config.clickhouse.user).toBe(String(services.clickhouse!.environment!.CLICKHOUSE_USER));
      expect(config.clickhouse.password).toBe(String(services.clickhouse!.environment!.CLICKHOUSE_PASSWORD));
      for (const dep of Object.keys(services[name]!.depends_on ?? {})) expect(Object.keys(services)).toContain(dep);
    },
  );
});
