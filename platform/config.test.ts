import path from 'node:path';
import { ConfigError, loadConfig, redacted, urlFor } from './config';

describe('loadConfig', () => {
  it('applies the contract defaults to an empty environment', () => {
    const c = loadConfig({});
    expect(c.kafka).toMatchObject({ brokers: ['localhost:9092'], local: true, eventPartitions: 6, ssl: false, sasl: undefined });
    expect(c.registry).toEqual({ url: 'http://localhost:8081', embedded: true, port: 8081 });
    expect(c.clickhouse).toEqual({ url: undefined, user: 'default', password: '', database: 'tributary' });
    expect([c.ingestPort, c.dashboardPort]).toEqual([8080, 3000]);
    expect(c.dataDir).toBe(path.resolve('.tributary'));
  });

  it('reads overrides', () => {
    const c = loadConfig({ KAFKA_BROKERS: 'k1:9092, k2:19092', SCHEMA_REGISTRY_URL: 'http://sr:8081', CLICKHOUSE_URL: 'https://ch:8443',
      INGEST_PORT: '18080', EVENT_PARTITIONS: '12', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' });
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
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^invalid environment: ${name}="${value.replace(/[.*+?^${}()|[\]\\;]/g, '\\$&')}": `));
  });

  it('requires credentials with a SASL mechanism', () => {
    expect(() => loadConfig({ KAFKA_SASL_MECHANISM: 'scram-sha-512' })).toThrow(/KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required/);
  });

  it('#18: every server listens on loopback unless a host setting opens it', () => {
    expect(loadConfig({}).hosts).toEqual({ ingest: '127.0.0.1', dashboard: '127.0.0.1', other: '127.0.0.1' });
    expect(loadConfig({ BIND_HOST: '0.0.0.0', DASHBOARD_HOST: '10.0.0.5' }).hosts).toEqual({ ingest: '0.0.0.0', dashboard: '10.0.0.5', other: '0.0.0.0' });
    expect(() => loadConfig({ INGEST_HOST: 'a b' })).toThrow(/INGEST_HOST/);
    expect([urlFor('127.0.0.1', 80), urlFor('0.0.0.0', 80), urlFor('10.0.0.5', 80), urlFor('fe80::1', 80)])
      .toEqual(['http://localhost:80', 'http://localhost:80', 'http://10.0.0.5:80', 'http://[fe80::1]:80']);
  });

  it('#18: a config error never echoes a secret: passwords and keys as ***, a URL\'s password too', () => {
    let message = '';
    try {
      loadConfig({ CLICKHOUSE_URL: 'ftp://admin:s3cret@db:8123', KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_PASSWORD: 'hunter2', RABBITMQ_URL: 'http://guest:guest@mq' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('CLICKHOUSE_URL="ftp://admin:***@db:8123"');
    expect(message).toContain('RABBITMQ_URL="http://guest:***@mq"');
    expect(message).not.toMatch(/s3cret|hunter2|guest@/);
    expect(redacted('WRITE_KEYS', 'k1,k2')).toBe('***');
    expect(redacted('KAFKA_BROKERS', 'a:9092')).toBe('a:9092');
  });
});

