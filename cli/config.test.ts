import path from 'node:path';
import { ConfigError, redacted, urlFor } from '../platform/config';
import { SECTIONS, envSchema, loadConfig } from './config';

describe('loadConfig', () => {
  it('composes sections that each own their variables and their part of Config: none read twice, none built twice', () => {
    const names = SECTIONS.flatMap((s) => Object.keys(s.settings));
    expect(new Set(names).size).toBe(names.length);
    expect(Object.keys(envSchema.shape).sort()).toEqual([...names].sort());
    const defaults = envSchema.parse({});
    const parts = SECTIONS.map((s) => Object.keys((s.build as (e: typeof defaults) => object)(defaults)));
    const keys = parts.flat();
    expect(new Set(keys).size).toBe(keys.length);
    expect(Object.keys(loadConfig({})).sort()).toEqual([...keys].sort());
  });

  it('refuses a SEGMENT_SIZE whose sums could overflow with the event bounds, naming both', () => {
    expect(() => loadConfig({ SEGMENT_SIZE: '100000' })).toThrow(/SEGMENT_SIZE \(100000\) × amountCents limit/);
    expect(() => loadConfig({ SEGMENT_SIZE: '50000', EVENT_LIMITS: '{"amountCents":1000000}' })).not.toThrow();
  });

  it('applies the contract defaults to an empty environment', () => {
    const c = loadConfig({});
    expect(c.kafka).toMatchObject({
      brokers: ['localhost:9092'],
      local: true,
      eventPartitions: 6,
      ssl: false,
      sasl: undefined,
    });
    expect(c.registry).toEqual({
      url: 'http://localhost:8081',
      embedded: true,
      port: 8081,
      auth: undefined,
      users: [],
      anonymousReads: false,
      maxSubjects: 1000,
      maxBodyBytes: 1048576,
      maxVersions: 1000,
      maxUnionBranches: 256,
      maxNamedTypes: 2000,
      checkTimeoutMs: 10000,
    });
    expect(c.http).toEqual({
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 1024,
      allowedHosts: [],
    });
    expect(c.clickhouse).toEqual({ url: undefined, user: 'default', password: '', database: 'tributary' });
    expect([c.ingestPort, c.dashboardPort]).toEqual([8080, 3000]);
    expect(c.dataDir).toBe(path.resolve('.tributary'));
  });

  it('reads overrides', () => {
    const c = loadConfig({
      KAFKA_BROKERS: 'k1:9092, k2:19092',
      SCHEMA_REGISTRY_URL: 'http://sr:8081',
      CLICKHOUSE_URL: 'https://ch:8443',
      INGEST_PORT: '18080',
      EVENT_PARTITIONS: '12',
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: 'p',
    });
    expect(c.kafka.brokers).toEqual(['k1:9092', 'k2:19092']);
    expect(c.kafka.local).toBe(false);
    expect(c.kafka.sasl).toEqual({ mechanism: 'plain', username: 'u', password: 'p' });
    expect(c.registry.embedded).toBe(false);
    expect(c.clickhouse.url).toBe('https://ch:8443');
    expect(c.ingestPort).toBe(18080);
    expect(c.kafka.eventPartitions).toBe(12);
  });

  it.each([
    ['INGEST_PORT', 'eighty'],
    ['DASHBOARD_PORT', '70000'],
    ['KAFKA_BROKERS', 'localhost'],
    ['CLICKHOUSE_URL', 'ftp://x'],
    ['CLICKHOUSE_DATABASE', 'drop table;'],
    ['LOG_LEVEL', 'loud'],
    ['EVENT_PARTITIONS', '0'],
  ])('names %s when its value %j is invalid', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(
      new RegExp(`^invalid environment: ${name}="${value.replace(/[.*+?^${}()|[\]\\;]/g, '\\$&')}": `),
    );
  });

  it('reads EVENTS_RETENTION as a duration, and refuses what is not one, naming it', () => {
    expect(loadConfig({}).kafka.eventRetentionMs).toBe(7 * 86_400_000);
    expect(
      ['36h', '90m', '2d', '600000', 'forever'].map((v) => loadConfig({ EVENTS_RETENTION: v }).kafka.eventRetentionMs),
    ).toEqual([129_600_000, 5_400_000, 172_800_000, 600_000, -1]);
    expect(() => loadConfig({ EVENTS_RETENTION: '1 week' })).toThrow(/EVENTS_RETENTION/);
    expect(() => loadConfig({ EVENTS_RETENTION: '0d' })).toThrow(/EVENTS_RETENTION/);
  });

  it('requires credentials with a SASL mechanism', () => {
    expect(() => loadConfig({ KAFKA_SASL_MECHANISM: 'scram-sha-512' })).toThrow(
      /KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required/,
    );
  });

  it('security: every server listens on loopback unless a host setting opens it', () => {
    expect(loadConfig({}).hosts).toEqual({ ingest: '127.0.0.1', dashboard: '127.0.0.1', other: '127.0.0.1' });
    expect(loadConfig({ BIND_HOST: '0.0.0.0', DASHBOARD_HOST: '10.0.0.5' }).hosts).toEqual({
      ingest: '0.0.0.0',
      dashboard: '10.0.0.5',
      other: '0.0.0.0',
    });
    expect(() => loadConfig({ INGEST_HOST: 'a b' })).toThrow(/INGEST_HOST/);
    expect([urlFor('127.0.0.1', 80), urlFor('0.0.0.0', 80), urlFor('10.0.0.5', 80), urlFor('fe80::1', 80)]).toEqual([
      'http://localhost:80',
      'http://localhost:80',
      'http://10.0.0.5:80',
      'http://[fe80::1]:80',
    ]);
  });

  it("security: a config error never echoes a secret: passwords and keys as ***, a URL's password too", () => {
    let message = '';
    try {
      loadConfig({
        CLICKHOUSE_URL: 'ftp://admin:s3cret@db:8123',
        KAFKA_SASL_MECHANISM: 'gssapi',
        KAFKA_SASL_PASSWORD: 'hunter2',
        RABBITMQ_URL: 'http://guest:guest@mq',
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('CLICKHOUSE_URL="ftp://admin:***@db:8123"');
    expect(message).toContain('RABBITMQ_URL="http://guest:***@mq"');
    expect(message).not.toMatch(/s3cret|hunter2|guest@/);
    expect(redacted('WRITE_KEYS', 'k1,k2')).toBe('***');
    expect(redacted('KAFKA_BROKERS', 'a:9092')).toBe('a:9092');
  });

  describe("secrets and the registry's users", () => {
    it('refuses placeholder secrets copied from examples, naming the variable but not the value', () => {
      expect(() => loadConfig({ WRITE_KEYS: 'k-1,change-me' })).toThrow(
        'invalid environment: WRITE_KEYS holds a placeholder',
      );
      expect(() => loadConfig({ READ_KEYS: 'CHANGEME' })).toThrow('READ_KEYS holds a placeholder');
      expect(() => loadConfig({ CLICKHOUSE_URL: 'http://ch:8123', CLICKHOUSE_PASSWORD: 'password' })).toThrow(
        'CLICKHOUSE_PASSWORD holds a placeholder',
      );
      expect(() => loadConfig({ REGISTRY_USERS: 'ops:admin:secret' })).toThrow('user ops has a placeholder password');
      expect(loadConfig({ WRITE_KEYS: 'k-7f3a9c' }).ingest.writeKeys).toEqual(['k-7f3a9c']);
    });

    it('parses registry users (a password may hold colons) and wants the stages to hold a writing user of them', () => {
      const env = {
        REGISTRY_USERS: 'ops:admin:a:b:c, svc:write:pw2',
        SCHEMA_REGISTRY_USER: 'svc',
        SCHEMA_REGISTRY_PASSWORD: 'pw2',
      };
      const c = loadConfig(env);
      expect(c.registry.users).toEqual([
        { name: 'ops', role: 'admin', password: 'a:b:c' },
        { name: 'svc', role: 'write', password: 'pw2' },
      ]);
      expect(c.registry.auth).toEqual({ username: 'svc', password: 'pw2' });
      expect(() => loadConfig({ ...env, SCHEMA_REGISTRY_PASSWORD: 'nope' })).toThrow(
        'SCHEMA_REGISTRY_USER and SCHEMA_REGISTRY_PASSWORD of one with role write or admin',
      );
      expect(() => loadConfig({ REGISTRY_USERS: 'ops:root:pw-9' })).toThrow(
        'expected name:role:password with role read, write or admin, got "ops:root:***"',
      );
      // An external registry: the users are not ours to check.
      expect(
        loadConfig({
          SCHEMA_REGISTRY_URL: 'https://psrc.example.cloud',
          SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO: 'KEY:se:cret',
        }).registry.auth,
      ).toEqual({ username: 'KEY', password: 'se:cret' });
    });

    it('a config error shows no credential: basic auth user info and registry users are redacted', () => {
      let message = '';
      try {
        loadConfig({ SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO: 'no-colon-secret' });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toContain('SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO="***"');
      expect(message).not.toContain('no-colon-secret');
    });
  });
});
