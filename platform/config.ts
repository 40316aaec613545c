import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { TributaryError } from './errors';

/**
 * The environment Tributary reads, validated once at start-up. Each folder owns its settings as a
 * `section`: every variable with its schema, default and one-line doc, and how its values become
 * that folder's part of `Config` (this file: Kafka, ClickHouse, HTTP, binds, DATA_DIR, logs;
 * schemas/config.ts, producers/config.ts, streams/config.ts, consumers/config.ts and
 * dashboards/config.ts the rest). `cli/config.ts` composes them (`loadConfig`); docs/configuration.md
 * is checked against them by a test. Everything else receives the parsed `Config`; nothing reads
 * the environment on its own.
 */

export const port = z.coerce.number().int().min(1).max(65535);
export const positiveInt = z.coerce.number().int().positive();
export const url = z.url({ protocol: /^https?$/ });
/** An unset variable and an empty one mean the same: the default applies. */
export const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
export const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'expected a Kafka topic name');
export const commaSeparated = z.string().transform((s) =>
  s
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean),
);
export const commaList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')).min(1));

/** A host name or IP address to listen on. */
const hostName = z.string().regex(/^[A-Za-z0-9.:_-]+$/, 'expected a host name or IP address');

/**
 * A folder's settings: the variables it reads (a zod schema each, with its default; its doc
 * beside it) and how their parsed values become its part of `Config`. `build` may refuse a
 * combination with a ConfigError.
 */
export interface Section<S extends z.ZodRawShape, C> {
  settings: S;
  build: (env: z.infer<z.ZodObject<S>>) => C;
}

export function section<S extends z.ZodRawShape, C>(
  settings: S,
  build: (env: z.infer<z.ZodObject<S>>) => C,
): Section<S, C> {
  return { settings, build };
}

/** Parses `env` with `schema`; throws a ConfigError naming every bad variable (secrets redacted) and what it expects. */
export function parseSettings<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      return `${name}=${JSON.stringify(redacted(name, env[name]))}: ${issue.message}`;
    });
    throw new ConfigError(`invalid environment: ${lines.join('; ')}`);
  }
  return parsed.data;
}

/** Refuses a secret copied from an example (PLACEHOLDERS). */
export function refusePlaceholder(name: string, values: readonly string[] | string | undefined): void {
  const list = values === undefined ? [] : typeof values === 'string' ? [values] : values;
  if (list.some((v) => PLACEHOLDERS.has(v.toLowerCase()))) throw placeholderError(name);
}

export function placeholderError(name: string): ConfigError {
  return new ConfigError(
    `invalid environment: ${name} holds a placeholder (${[...PLACEHOLDERS].join(', ')}…): set a real secret`,
  );
}

/** The infrastructure's settings: Kafka, ClickHouse, every HTTP server, listen addresses, DATA_DIR, logs. */
export const platformSection = section(
  {
    /** Comma-separated `host:port` list. Unset: the local broker started by `tributary kafka`. */
    KAFKA_BROKERS: optional(commaList),
    KAFKA_SSL: optional(z.enum(['true', 'false'])).default('false'),
    KAFKA_SASL_MECHANISM: optional(z.enum(['plain', 'scram-sha-256', 'scram-sha-512'])),
    KAFKA_SASL_USERNAME: optional(z.string()),
    KAFKA_SASL_PASSWORD: optional(z.string()),
    /** PEM file of the certificate authorities to trust for the brokers' TLS (implies KAFKA_SSL); unset: Node's default CAs. */
    KAFKA_SSL_CA_FILE: optional(z.string().min(1)),
    /** Partitions of the event topics when Tributary creates them. */
    EVENT_PARTITIONS: optional(positiveInt).default(6),
    /**
     * How long Kafka keeps the event topics when Tributary creates them (retention.ms): it bounds
     * how far back a declared rollup's backfill and a replay reach. `7d`, `36h`, `90m`,
     * milliseconds, or `forever`.
     */
    EVENTS_RETENTION: optional(
      z.string().transform((v, ctx) => {
        if (v === 'forever') return -1;
        const m = /^(\d+)(ms|s|m|h|d)?$/.exec(v.trim());
        if (!m || Number(m[1]) <= 0) {
          ctx.addIssue({ code: 'custom', message: 'a duration like 7d, 36h, 90m or milliseconds, or forever' });
          return z.NEVER;
        }
        return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
      }),
    ).default(7 * 86_400_000),
    /** Replication factor of the topics Tributary creates; unset: min(3, brokers in the cluster). */
    TOPIC_REPLICATION_FACTOR: optional(positiveInt),
    /** Unset: the embedded ClickHouse engine (chDB) under DATA_DIR. */
    CLICKHOUSE_URL: optional(url),
    CLICKHOUSE_USER: optional(z.string()).default('default'),
    CLICKHOUSE_PASSWORD: optional(z.string()).default(''),
    CLICKHOUSE_DATABASE: optional(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an identifier')).default(
      'tributary',
    ),
    /** Address every server Tributary starts listens on: loopback unless opened on purpose (0.0.0.0, or an interface's address). */
    BIND_HOST: optional(hostName),
    /** Overrides of BIND_HOST for the two servers most often opened alone. */
    INGEST_HOST: optional(hostName),
    DASHBOARD_HOST: optional(hostName),
    /** Extra Host header values every server accepts (comma-separated); on a loopback bind only loopback names are accepted otherwise. */
    ALLOWED_HOSTS: optional(commaSeparated),
    /** Every HTTP server: whole request, headers, idle keep-alive, and open connections at most. */
    HTTP_REQUEST_TIMEOUT_MS: optional(positiveInt).default(30_000),
    HTTP_HEADERS_TIMEOUT_MS: optional(positiveInt).default(10_000),
    HTTP_KEEPALIVE_TIMEOUT_MS: optional(positiveInt).default(5_000),
    HTTP_MAX_CONNECTIONS: optional(positiveInt).default(1024),
    DATA_DIR: optional(z.string().min(1)).default('./.tributary'),
    /** Set by `tributary start` for its stages: the file its supervisor keeps the stages' states in (/api/pipeline shows them). */
    STAGES_FILE: optional(z.string().min(1)),
    /** Free space DATA_DIR must have for `start`/`kafka` to start, and below which ingest stops accepting when INGEST_DISK_GUARD is on. */
    DATA_DIR_MIN_FREE_MB: optional(positiveInt).default(256),
    LOG_LEVEL: optional(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])).default('info'),
    /** `json` (one object per line), `pretty` (one readable line each), or `auto`: pretty when stdout is a terminal. */
    LOG_FORMAT: optional(z.enum(['json', 'pretty', 'auto'])).default('auto'),
  },
  (e) => {
    if (e.KAFKA_SASL_MECHANISM && (e.KAFKA_SASL_USERNAME === undefined || e.KAFKA_SASL_PASSWORD === undefined)) {
      throw new ConfigError(
        'invalid environment: KAFKA_SASL_MECHANISM is set, so KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required',
      );
    }
    refusePlaceholder('CLICKHOUSE_PASSWORD', e.CLICKHOUSE_PASSWORD);
    refusePlaceholder('KAFKA_SASL_PASSWORD', e.KAFKA_SASL_PASSWORD);
    const http: HttpLimits = {
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: e.HTTP_KEEPALIVE_TIMEOUT_MS,
      maxConnections: e.HTTP_MAX_CONNECTIONS,
      allowedHosts: e.ALLOWED_HOSTS ?? [],
    };
    return {
      kafka: {
        /** Bootstrap servers; the local broker at localhost:9092 when KAFKA_BROKERS is unset. */
        brokers: e.KAFKA_BROKERS ?? [`localhost:${LOCAL_KAFKA_PORT}`],
        /** True when KAFKA_BROKERS was unset and Tributary runs its own broker. */
        local: e.KAFKA_BROKERS === undefined,
        eventPartitions: e.EVENT_PARTITIONS,
        /** retention.ms of the event topics Tributary creates (EVENTS_RETENTION); -1: forever. */
        eventRetentionMs: e.EVENTS_RETENTION,
        replicationFactor: e.TOPIC_REPLICATION_FACTOR,
        ssl: e.KAFKA_SSL === 'true' || e.KAFKA_SSL_CA_FILE !== undefined,
        /** PEM text of the CAs to trust (KAFKA_SSL_CA_FILE), when not Node's defaults. */
        sslCa: readCaFile(e.KAFKA_SSL_CA_FILE),
        sasl: e.KAFKA_SASL_MECHANISM
          ? {
              mechanism: e.KAFKA_SASL_MECHANISM,
              username: e.KAFKA_SASL_USERNAME ?? '',
              password: e.KAFKA_SASL_PASSWORD ?? '',
            }
          : undefined,
      },
      clickhouse: {
        url: e.CLICKHOUSE_URL,
        user: e.CLICKHOUSE_USER,
        password: e.CLICKHOUSE_PASSWORD,
        database: e.CLICKHOUSE_DATABASE,
      },
      http,
      dataDir: path.resolve(e.DATA_DIR),
      /** The supervisor's file of stage states, under `tributary start` (STAGES_FILE). */
      stagesFile: e.STAGES_FILE,
      dataDirMinFreeBytes: e.DATA_DIR_MIN_FREE_MB * 2 ** 20,
      /** Listen addresses: ingest, dashboard, and the rest (registry, processor/sink/bridge ops). */
      hosts: {
        ingest: e.INGEST_HOST ?? e.BIND_HOST ?? LOOPBACK,
        dashboard: e.DASHBOARD_HOST ?? e.BIND_HOST ?? LOOPBACK,
        other: e.BIND_HOST ?? LOOPBACK,
      },
      logLevel: e.LOG_LEVEL,
      logFormat: e.LOG_FORMAT,
    };
  },
);

/**
 * The parsed settings every stage receives: this file's section, and each folder's, which adds
 * its part to this interface where it is declared (TypeScript declaration merging, e.g.
 * streams/config.ts). Inferred from the sections' `build`, never written out by hand.
 */
export interface Config extends ReturnType<typeof platformSection.build> {}

/** Where `tributary start` keeps its stages' states, in DATA_DIR. */
export const STAGES_FILE = 'stages.json';

/** What every HTTP server keeps: its timeouts, its connection cap, and the Host names it answers besides loopback ones (ALLOWED_HOSTS). */
export interface HttpLimits {
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  allowedHosts: string[];
}

function readCaFile(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`invalid environment: KAFKA_SSL_CA_FILE ${file} cannot be read: ${(err as Error).message}`);
  }
}

/** Values copied from examples that must never guard anything (compose files, docs). */
export const PLACEHOLDERS = new Set([
  'change-me',
  'changeme',
  'change_me',
  'replace-me',
  'secret',
  'password',
  'your-key',
  'example',
]);

export const LOCAL_KAFKA_PORT = 9092;
export const LOOPBACK = '127.0.0.1';

/** How a person reaches a server bound to `host`: loopback and the wildcard are reached at localhost. */
export function urlFor(host: string, port: number): string {
  const reach =
    host === LOOPBACK || host === '0.0.0.0' || host === '::' || host === '::1'
      ? 'localhost'
      : host.includes(':')
        ? `[${host}]`
        : host;
  return `http://${reach}:${port}`;
}

export class ConfigError extends TributaryError {
  constructor(message: string) {
    super('config', message);
    this.name = 'ConfigError';
  }
}

const SECRET_NAME = /PASSWORD|SECRET|TOKEN|USER_INFO|(^|_)KEYS?$|^REGISTRY_USERS$/;

/**
 * A variable's value as it may appear in an error or a log: secrets (passwords, keys, tokens) as
 * `***`, and the password of a URL's user info (amqp://user:pw@host, https://user:pw@host) too.
 */
export function redacted(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (SECRET_NAME.test(name)) return '***';
  return redactUrl(value);
}

/** `scheme://user:password@host…` → `scheme://user:***@host…`; anything else unchanged. */
export function redactUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@/\s]*@/i, '$1:***@');
}
