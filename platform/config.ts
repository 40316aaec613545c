import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { TributaryError } from './errors';

/**
 * The environment Tributary reads, validated once at start-up (each variable, its default and meaning:
 * docs/configuration.md). Everything else receives the parsed `Config` object; nothing imports this module
 * to read settings on its own.
 */

const port = z.coerce.number().int().min(1).max(65535);
const positiveInt = z.coerce.number().int().positive();
const url = z.url({ protocol: /^https?$/ });
/** An unset variable and an empty one mean the same: the default applies. */
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'expected a Kafka topic name');
const commaSeparated = z.string().transform((s) =>
  s
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean),
);
const commaList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')).min(1));

/**
 * The bounds every accepted event keeps (the rules: schemas/limits.ts). Anyone holding a write
 * key may be hostile: these bounds are what make the rollups' memory, their sums and their keys
 * safe whatever the values (docs/limits.md). EVENT_LIMITS overrides any of them as JSON.
 */
export interface EventLimits {
  /** Order lines per event. */
  items: number;
  /** Entries in a user event's `properties`. */
  properties: number;
  /** Units of one order line. */
  quantity: number;
  /** amountCents, one unitPriceCents, and the sum of an order's lines (quantity × unitPriceCents). */
  amountCents: number;
  /** Codes accepted besides ISO 4217's (currency) and ISO 3166-1's (country): EXTRA_CURRENCIES, EXTRA_COUNTRIES. */
  extraCurrencies?: readonly string[];
  extraCountries?: readonly string[];
  /** Maximum length (UTF-16 code units, as JavaScript counts) of each string field. */
  eventId: number;
  userId: number;
  orderId: number;
  sessionId: number;
  sku: number;
  category: number;
  device: number;
  page: number;
  propertyKey: number;
  propertyValue: number;
}

/** The numeric bounds (EVENT_LIMITS overrides them). */
type NumericLimit = Exclude<keyof EventLimits, 'extraCurrencies' | 'extraCountries'>;

/** Where `tributary start` keeps its stages' states, in DATA_DIR. */
export const STAGES_FILE = 'stages.json';

export const DEFAULT_EVENT_LIMITS: Readonly<EventLimits> = {
  items: 100,
  properties: 50,
  quantity: 1_000_000,
  // 10^11 minor units: a billion euros, dollars or yen in one order.
  amountCents: 100_000_000_000,
  eventId: 128,
  userId: 256,
  orderId: 128,
  sessionId: 128,
  sku: 128,
  category: 128,
  device: 64,
  page: 2048,
  propertyKey: 64,
  propertyValue: 1024,
};

/**
 * The largest magnitude of a declared event type's number property (a long, a decimal's unscaled
 * value: docs/events.md): like amountCents, a row adds up at most SEGMENT_SIZE of them.
 */
export const DECLARED_MAGNITUDE = 100_000_000_000;

/**
 * Why the processor's sums cannot overflow: a row of one segment sums at most S events, and one
 * event adds at most `amountCents` to a row's amount (an order's total, or the sum of its lines
 * for a product row) and at most items × quantity to its quantity. Both products must stay
 * within 2^53 − 1, where a JavaScript number (and so Avro's long in avsc) is still exact; the
 * config refuses a SEGMENT_SIZE or EVENT_LIMITS that breaks this. Returns what is wrong, if anything.
 */
export function overflowProblem(limits: EventLimits, segmentSize: number): string | undefined {
  const amount = segmentSize * limits.amountCents;
  const quantity = segmentSize * limits.items * limits.quantity;
  if (amount > Number.MAX_SAFE_INTEGER) {
    return `SEGMENT_SIZE (${segmentSize}) × amountCents limit (${limits.amountCents}) = ${amount} exceeds 2^53 − 1: a row's sum could lose precision; lower one of them`;
  }
  if (quantity > Number.MAX_SAFE_INTEGER) {
    return `SEGMENT_SIZE (${segmentSize}) × items (${limits.items}) × quantity (${limits.quantity}) exceeds 2^53 − 1; lower one of them`;
  }
  if (segmentSize * DECLARED_MAGNITUDE > Number.MAX_SAFE_INTEGER) {
    return `SEGMENT_SIZE (${segmentSize}) × the largest number a declared event property holds (${DECLARED_MAGNITUDE}) exceeds 2^53 − 1: a row's sum could lose precision; lower SEGMENT_SIZE`;
  }
  if (limits.quantity > 2 ** 31 - 1) return `the quantity limit (${limits.quantity}) exceeds Avro int (2^31 − 1)`;
  return undefined;
}

const eventLimitsJson = z
  .string()
  .transform((s, ctx) => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected JSON such as {"items":200,"sku":256}' });
      return z.NEVER;
    }
  })
  .pipe(
    z.strictObject(
      Object.fromEntries(Object.keys(DEFAULT_EVENT_LIMITS).map((k) => [k, positiveInt.optional()])) as Record<
        NumericLimit,
        z.ZodOptional<typeof positiveInt>
      >,
    ),
  );

export const envSchema = z.object({
  /** Comma-separated `host:port` list. Unset: the local broker started by `tributary kafka`. */
  KAFKA_BROKERS: optional(commaList),
  KAFKA_SSL: optional(z.enum(['true', 'false'])).default('false'),
  KAFKA_SASL_MECHANISM: optional(z.enum(['plain', 'scram-sha-256', 'scram-sha-512'])),
  KAFKA_SASL_USERNAME: optional(z.string()),
  KAFKA_SASL_PASSWORD: optional(z.string()),
  /** PEM file of the certificate authorities to trust for the brokers' TLS (implies KAFKA_SSL); unset: Node's default CAs. */
  KAFKA_SSL_CA_FILE: optional(z.string().min(1)),
  /** Unset: the embedded registry (`tributary registry`) on REGISTRY_PORT. */
  SCHEMA_REGISTRY_URL: optional(url),
  REGISTRY_PORT: optional(port).default(8081),
  /** Credentials the stages present to the Schema Registry (HTTP Basic), as user and password… */
  SCHEMA_REGISTRY_USER: optional(z.string()),
  SCHEMA_REGISTRY_PASSWORD: optional(z.string()),
  /** …or in Confluent's `basic.auth.user.info` form, `user:password`. */
  SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO: optional(z.string().regex(/^[^:]+:/, 'expected user:password')),
  /** Users of the embedded registry, `name:role:password` comma-separated (role read, write or admin); unset (and no file): no authentication. */
  REGISTRY_USERS: optional(z.string()),
  /** The same, one `name:role:password` per line (# comments), from a file (0600). */
  REGISTRY_USERS_FILE: optional(z.string().min(1)),
  /** With users: `true` lets requests without credentials read (GET); writes still need a user. */
  REGISTRY_ANONYMOUS_READS: optional(z.enum(['true', 'false'])).default('false'),
  /** Subjects the embedded registry holds at most (a client cannot fill it with junk). */
  REGISTRY_MAX_SUBJECTS: optional(positiveInt).default(1000),
  /** Largest request body (a schema) the embedded registry reads. */
  REGISTRY_MAX_BODY_BYTES: optional(positiveInt).default(1024 * 1024),
  /** Versions one subject of the embedded registry holds at most (each new version is checked against them). */
  REGISTRY_MAX_VERSIONS: optional(positiveInt).default(1000),
  /** Branches of one union in a schema the embedded registry takes (compatibility checks resolve unions pairwise). */
  REGISTRY_MAX_UNION_BRANCHES: optional(positiveInt).default(256),
  /** Named types (records, enums, fixed) in one schema the embedded registry takes. */
  REGISTRY_MAX_NAMED_TYPES: optional(positiveInt).default(2000),
  /** Time budget of one compatibility check (run off the event loop); past it the answer is 50002. */
  REGISTRY_CHECK_TIMEOUT_MS: optional(positiveInt).default(10_000),
  /** Unset: the embedded ClickHouse engine (chDB) under DATA_DIR. */
  CLICKHOUSE_URL: optional(url),
  CLICKHOUSE_USER: optional(z.string()).default('default'),
  CLICKHOUSE_PASSWORD: optional(z.string()).default(''),
  CLICKHOUSE_DATABASE: optional(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an identifier')).default(
    'tributary',
  ),
  /** Address every server Tributary starts listens on: loopback unless opened on purpose (0.0.0.0, or an interface's address). */
  BIND_HOST: optional(z.string().regex(/^[A-Za-z0-9.:_-]+$/, 'expected a host name or IP address')),
  /** Overrides of BIND_HOST for the two servers most often opened alone. */
  INGEST_HOST: optional(z.string().regex(/^[A-Za-z0-9.:_-]+$/, 'expected a host name or IP address')),
  DASHBOARD_HOST: optional(z.string().regex(/^[A-Za-z0-9.:_-]+$/, 'expected a host name or IP address')),
  INGEST_PORT: optional(port).default(8080),
  DASHBOARD_PORT: optional(port).default(3000),
  DATA_DIR: optional(z.string().min(1)).default('./.tributary'),
  /** Set by `tributary start` for its stages: the file its supervisor keeps the stages' states in (/api/pipeline shows them). */
  STAGES_FILE: optional(z.string().min(1)),
  /** Free space DATA_DIR must have for `start`/`kafka` to start, and below which ingest stops accepting when INGEST_DISK_GUARD is on. */
  DATA_DIR_MIN_FREE_MB: optional(positiveInt).default(256),
  /** `on`: ingest answers 503 while DATA_DIR (where the local broker writes) is below DATA_DIR_MIN_FREE_MB; `tributary start` turns it on with its own broker. */
  INGEST_DISK_GUARD: optional(z.enum(['on', 'off'])).default('off'),
  /** Partitions of events.users and events.orders when Tributary creates them. */
  EVENT_PARTITIONS: optional(positiveInt).default(6),
  /**
   * How long Kafka keeps events.users and events.orders when Tributary creates them (retention.ms):
   * it bounds how far back a declared rollup's backfill and a replay reach. `7d`, `36h`, `90m`,
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
  /** Comma-separated write keys for the ingestion endpoint. */
  WRITE_KEYS: optional(commaSeparated),
  /** `off` turns ingestion auth off explicitly (required to run without WRITE_KEYS on an external Kafka). */
  INGEST_AUTH: optional(z.enum(['on', 'off'])).default('on'),
  INGEST_MAX_EVENT_BYTES: optional(positiveInt).default(32 * 1024),
  INGEST_MAX_BODY_BYTES: optional(positiveInt).default(1024 * 1024),
  INGEST_MAX_EVENTS: optional(positiveInt).default(1000),
  /** Overrides of DEFAULT_EVENT_LIMITS as JSON, e.g. {"items":200,"sku":256}. */
  EVENT_LIMITS: optional(eventLimitsJson),
  /** Currency codes accepted besides ISO 4217's, comma-separated (three capital letters each), e.g. XBT. */
  EXTRA_CURRENCIES: optional(
    z
      .string()
      .transform((s) =>
        s
          .split(',')
          .map((c) => c.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().regex(/^[A-Z]{3}$/, 'expected three capital letters'))),
  ),
  /** Country codes accepted besides ISO 3166-1 alpha-2's, comma-separated (two capital letters each), e.g. XK. */
  EXTRA_COUNTRIES: optional(
    z
      .string()
      .transform((s) =>
        s
          .split(',')
          .map((c) => c.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().regex(/^[A-Z]{2}$/, 'expected two capital letters'))),
  ),
  /** Bytes accepted but not yet acknowledged by Kafka; above it requests get 429. */
  INGEST_MAX_INFLIGHT_BYTES: optional(positiveInt).default(64 * 1024 * 1024),
  /** How long concurrent requests are gathered into one Kafka send. */
  INGEST_LINGER_MS: optional(z.coerce.number().int().min(0).max(1000)).default(2),
  /** How long a request waits for Kafka before it is answered 503. */
  INGEST_PRODUCE_TIMEOUT_MS: optional(positiveInt).default(10_000),
  TOPIC_USERS: optional(topicName).default('events.users'),
  TOPIC_ORDERS: optional(topicName).default('events.orders'),
  TOPIC_ROLLUPS: optional(topicName).default('rollups'),
  TOPIC_DLQ: optional(topicName).default('events.dlq'),
  TOPIC_CUSTOM: optional(topicName).default('events.custom'),
  /** Consumer group of the stream processor. */
  PROCESS_GROUP_ID: optional(z.string().min(1)).default('tributary-rollups'),
  /** Offsets per segment (S in docs/processing.md): a restart recomputes at most two segments per partition. */
  SEGMENT_SIZE: optional(positiveInt).default(20_000),
  /** How long a dropped or superseded declared rollup's tables stay before the sink drops them (docs/rollups.md). */
  ROLLUPS_DROP_GRACE_MS: optional(z.coerce.number().int().min(0)).default(3_600_000),
  /** How often the processor emits changed rollup rows (dashboards are this live). */
  FLUSH_INTERVAL_MS: optional(positiveInt).default(500),
  /** Distinct rollup rows one partition's open chunk holds before the next chunk starts (bounded memory, docs/processing.md). */
  PROCESS_MAX_ROWS: optional(positiveInt).default(10_000),
  /**
   * Rows waiting to be emitted, across partitions, above which the processor stops reading until a
   * flush sent them. Rows travel in blocks, so a flush is cheap, and a lower bound keeps the peak
   * of the high-cardinality bench lower (figures in docs/benchmarks.md).
   */
  PROCESS_MAX_PENDING_ROWS: optional(positiveInt).default(10_000),
  /**
   * Bytes a declared rollup's backfill fetches per partition at a time (one partition at a time):
   * smaller keeps the live path fresher while a backfill runs, larger backfills faster (docs/rollups.md).
   */
  PROCESS_BACKFILL_FETCH_BYTES: optional(z.coerce.number().int().min(1024)).default(64 * 1024),
  /** Port of the processor's /healthz, /readyz and /metrics (0: any free port). */
  PROCESS_PORT: optional(z.coerce.number().int().min(0).max(65535)).default(8092),
  /** Port of the standalone sink's /healthz, /readyz and /metrics (0: any free port). */
  SINK_PORT: optional(z.coerce.number().int().min(0).max(65535)).default(8093),
  SINK_GROUP_ID: optional(z.string().min(1)).default('tributary-clickhouse-sink'),
  SINK_BATCH_ROWS: optional(positiveInt).default(20_000),
  SINK_BATCH_DELAY_MS: optional(positiveInt).default(500),
  /** Port of a bridge's /healthz, /readyz and /metrics. */
  BRIDGE_PORT: optional(port).default(8090),
  /** RabbitMQ of `tributary bridge rabbitmq` (and `demo --via rabbitmq`); unset with `start --via rabbitmq`: a local node. */
  RABBITMQ_URL: optional(z.string().regex(/^amqps?:\/\//, 'expected amqp://… or amqps://…')),
  /** Queue of `tributary bridge sqs` (and `demo --via sqs`); unset with `start --via sqs`: a local ElasticMQ. */
  SQS_QUEUE_URL: optional(url),
  /** SQS endpoint when it is not the queue URL's own origin (AWS) — e.g. a VPC endpoint. */
  SQS_ENDPOINT: optional(url),
  /** Comma-separated read keys for the dashboard API; unset: the dashboard is open. */
  READ_KEYS: optional(commaSeparated),
  /** Live-stream (/api/stream) connections the dashboard holds at most, in all and per client address. */
  DASHBOARD_MAX_STREAMS: optional(positiveInt).default(200),
  DASHBOARD_MAX_STREAMS_PER_CLIENT: optional(positiveInt).default(8),
  /** Longest a dashboard query runs in ClickHouse (max_execution_time) before it is cancelled. */
  DASHBOARD_QUERY_TIMEOUT_MS: optional(positiveInt).default(10_000),
  /** Memory one dashboard query may use in ClickHouse (max_memory_usage); past it the answer is 422. */
  DASHBOARD_QUERY_MAX_MEMORY_BYTES: optional(positiveInt).default(256 * 1024 * 1024),
  /** Extra Host header values every server accepts (comma-separated); on a loopback bind only loopback names are accepted otherwise. */
  ALLOWED_HOSTS: optional(commaSeparated),
  /** Every HTTP server: whole request, headers, idle keep-alive, and open connections at most. */
  HTTP_REQUEST_TIMEOUT_MS: optional(positiveInt).default(30_000),
  HTTP_HEADERS_TIMEOUT_MS: optional(positiveInt).default(10_000),
  HTTP_KEEPALIVE_TIMEOUT_MS: optional(positiveInt).default(5_000),
  HTTP_MAX_CONNECTIONS: optional(positiveInt).default(1024),
  LOG_LEVEL: optional(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])).default('info'),
  /** `json` (one object per line), `pretty` (one readable line each), or `auto`: pretty when stdout is a terminal. */
  LOG_FORMAT: optional(z.enum(['json', 'pretty', 'auto'])).default('auto'),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  kafka: {
    /** Bootstrap servers; the local broker at localhost:9092 when KAFKA_BROKERS is unset. */
    brokers: string[];
    /** True when KAFKA_BROKERS was unset and Tributary runs its own broker. */
    local: boolean;
    eventPartitions: number;
    /** retention.ms of the event topics Tributary creates (EVENTS_RETENTION); -1: forever. */
    eventRetentionMs: number;
    replicationFactor: number | undefined;
    ssl: boolean;
    /** PEM text of the CAs to trust (KAFKA_SSL_CA_FILE), when not Node's defaults. */
    sslCa: string | undefined;
    sasl: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string } | undefined;
  };
  registry: {
    url: string;
    embedded: boolean;
    port: number;
    /** What the stages present to the registry. */
    auth: { username: string; password: string } | undefined;
    /** The embedded registry's own users, limits and whether anonymous GETs are allowed. */
    users: RegistryUser[];
    anonymousReads: boolean;
    maxSubjects: number;
    maxBodyBytes: number;
    maxVersions: number;
    maxUnionBranches: number;
    maxNamedTypes: number;
    checkTimeoutMs: number;
  };
  clickhouse: {
    url: string | undefined;
    user: string;
    password: string;
    database: string;
  };
  /** `custom`: the topic of every declared event type (docs/events.md). */
  topics: { users: string; orders: string; custom: string; rollups: string; dlq: string };
  processor: {
    groupId: string;
    segmentSize: number;
    flushIntervalMs: number;
    maxRowsPerPartition: number;
    maxPendingRows: number;
    backfillFetchBytes: number;
    port: number;
  };
  sink: { groupId: string; batchRows: number; batchDelayMs: number; port: number };
  /** Declared rollups: how long a dropped version's tables stay. */
  rollups: { dropGraceMs: number };
  ingestPort: number;
  /** Bounds of every accepted event, at every way in and in the processor. */
  eventLimits: EventLimits;
  ingest: {
    writeKeys: string[];
    authOff: boolean;
    maxEventBytes: number;
    maxBodyBytes: number;
    maxEvents: number;
    maxInflightBytes: number;
    diskGuard: boolean;
    lingerMs: number;
    produceTimeoutMs: number;
  };
  bridge: {
    port: number;
    rabbitmqUrl: string | undefined;
    sqsQueueUrl: string | undefined;
    sqsEndpoint: string | undefined;
  };
  dashboardPort: number;
  readKeys: string[];
  dashboard: { maxStreams: number; maxStreamsPerClient: number; queryTimeoutMs: number; queryMaxMemoryBytes: number };
  http: HttpLimits;
  dataDir: string;
  /** The supervisor's file of stage states, under `tributary start` (STAGES_FILE). */
  stagesFile: string | undefined;
  dataDirMinFreeBytes: number;
  /** Listen addresses: ingest, dashboard, and the rest (registry, processor/sink/bridge ops). */
  hosts: { ingest: string; dashboard: string; other: string };
  logLevel: Env['LOG_LEVEL'];
  logFormat: Env['LOG_FORMAT'];
}

export type RegistryRole = 'read' | 'write' | 'admin';
export interface RegistryUser {
  name: string;
  role: RegistryRole;
  password: string;
}

/** What every HTTP server keeps: its timeouts, its connection cap, and the Host names it answers besides loopback ones (ALLOWED_HOSTS). */
export interface HttpLimits {
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  allowedHosts: string[];
}

/** `name:role:password` entries (password last: it may hold `:`), from REGISTRY_USERS or its file. */
export function parseRegistryUsers(entries: string[], source: string): RegistryUser[] {
  return entries.map((entry) => {
    const m = /^([^:\s]+):(read|write|admin):(.+)$/.exec(entry);
    if (!m)
      throw new ConfigError(
        `invalid ${source}: expected name:role:password with role read, write or admin, got ${JSON.stringify(entry.replace(/:[^:]*$/, ':***'))}`,
      );
    if (PLACEHOLDERS.has(m[3]!.toLowerCase()))
      throw new ConfigError(`invalid ${source}: user ${m[1]} has a placeholder password: set a real one`);
    return { name: m[1]!, role: m[2] as RegistryRole, password: m[3]! };
  });
}

function registryUsers(e: Env): RegistryUser[] {
  const users = parseRegistryUsers(
    (e.REGISTRY_USERS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    'REGISTRY_USERS',
  );
  if (e.REGISTRY_USERS_FILE) {
    let text: string;
    try {
      text = readFileSync(e.REGISTRY_USERS_FILE, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `invalid environment: REGISTRY_USERS_FILE ${e.REGISTRY_USERS_FILE} cannot be read: ${(err as Error).message}`,
      );
    }
    const lines = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    users.push(...parseRegistryUsers(lines, `REGISTRY_USERS_FILE ${e.REGISTRY_USERS_FILE}`));
  }
  return users;
}

function registryAuth(e: Env): { username: string; password: string } | undefined {
  if (e.SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO !== undefined) {
    const i = e.SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO.indexOf(':');
    return {
      username: e.SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO.slice(0, i),
      password: e.SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO.slice(i + 1),
    };
  }
  if (e.SCHEMA_REGISTRY_USER !== undefined)
    return { username: e.SCHEMA_REGISTRY_USER, password: e.SCHEMA_REGISTRY_PASSWORD ?? '' };
  return undefined;
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

function placeholderSecret(e: Env): string | undefined {
  if ((e.WRITE_KEYS ?? []).some((k) => PLACEHOLDERS.has(k.toLowerCase()))) return 'WRITE_KEYS';
  if ((e.READ_KEYS ?? []).some((k) => PLACEHOLDERS.has(k.toLowerCase()))) return 'READ_KEYS';
  if (PLACEHOLDERS.has(e.CLICKHOUSE_PASSWORD.toLowerCase())) return 'CLICKHOUSE_PASSWORD';
  if (e.KAFKA_SASL_PASSWORD !== undefined && PLACEHOLDERS.has(e.KAFKA_SASL_PASSWORD.toLowerCase()))
    return 'KAFKA_SASL_PASSWORD';
  // amqp://user:@host is an unset password interpolated (compose). (guest:guest stays allowed: RabbitMQ
  // accepts it from loopback only, which is how the local node of `start --via rabbitmq` is reached.)
  const amqpPassword = e.RABBITMQ_URL ? /^amqps?:\/\/[^:/@]*:([^@]*)@/.exec(e.RABBITMQ_URL)?.[1] : undefined;
  if (
    amqpPassword !== undefined &&
    (amqpPassword === '' || PLACEHOLDERS.has(decodeURIComponent(amqpPassword).toLowerCase()))
  )
    return "RABBITMQ_URL's password";
  return undefined;
}

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

/** Parses the environment; throws a ConfigError naming every bad variable and what it expects. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      return `${name}=${JSON.stringify(redacted(name, env[name]))}: ${issue.message}`;
    });
    throw new ConfigError(`invalid environment: ${lines.join('; ')}`);
  }
  const e = parsed.data;
  if (e.KAFKA_SASL_MECHANISM && (e.KAFKA_SASL_USERNAME === undefined || e.KAFKA_SASL_PASSWORD === undefined)) {
    throw new ConfigError(
      'invalid environment: KAFKA_SASL_MECHANISM is set, so KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required',
    );
  }
  const placeholder = placeholderSecret(e);
  if (placeholder)
    throw new ConfigError(
      `invalid environment: ${placeholder} holds a placeholder (${[...PLACEHOLDERS].join(', ')}…): set a real secret`,
    );
  const users = registryUsers(e);
  const auth = registryAuth(e);
  if (e.SCHEMA_REGISTRY_URL === undefined && users.length > 0) {
    const me = auth && users.find((u) => u.name === auth.username && u.password === auth.password);
    if (!me || me.role === 'read') {
      throw new ConfigError(
        'invalid environment: the embedded registry has users (REGISTRY_USERS), so the stages need SCHEMA_REGISTRY_USER and SCHEMA_REGISTRY_PASSWORD of one with role write or admin',
      );
    }
  }
  const eventLimits: EventLimits = { ...DEFAULT_EVENT_LIMITS };
  for (const [k, v] of Object.entries(e.EVENT_LIMITS ?? {})) if (v !== undefined) eventLimits[k as NumericLimit] = v;
  if (e.EXTRA_CURRENCIES?.length) eventLimits.extraCurrencies = e.EXTRA_CURRENCIES;
  if (e.EXTRA_COUNTRIES?.length) eventLimits.extraCountries = e.EXTRA_COUNTRIES;
  const overflow = overflowProblem(eventLimits, e.SEGMENT_SIZE);
  if (overflow) throw new ConfigError(`invalid environment: ${overflow}`);
  return {
    eventLimits,
    kafka: {
      brokers: e.KAFKA_BROKERS ?? [`localhost:${LOCAL_KAFKA_PORT}`],
      local: e.KAFKA_BROKERS === undefined,
      eventPartitions: e.EVENT_PARTITIONS,
      eventRetentionMs: e.EVENTS_RETENTION,
      replicationFactor: e.TOPIC_REPLICATION_FACTOR,
      ssl: e.KAFKA_SSL === 'true' || e.KAFKA_SSL_CA_FILE !== undefined,
      sslCa: readCaFile(e.KAFKA_SSL_CA_FILE),
      sasl: e.KAFKA_SASL_MECHANISM
        ? {
            mechanism: e.KAFKA_SASL_MECHANISM,
            username: e.KAFKA_SASL_USERNAME ?? '',
            password: e.KAFKA_SASL_PASSWORD ?? '',
          }
        : undefined,
    },
    registry: {
      url: e.SCHEMA_REGISTRY_URL ?? `http://localhost:${e.REGISTRY_PORT}`,
      embedded: e.SCHEMA_REGISTRY_URL === undefined,
      port: e.REGISTRY_PORT,
      auth,
      users,
      anonymousReads: e.REGISTRY_ANONYMOUS_READS === 'true',
      maxSubjects: e.REGISTRY_MAX_SUBJECTS,
      maxBodyBytes: e.REGISTRY_MAX_BODY_BYTES,
      maxVersions: e.REGISTRY_MAX_VERSIONS,
      maxUnionBranches: e.REGISTRY_MAX_UNION_BRANCHES,
      maxNamedTypes: e.REGISTRY_MAX_NAMED_TYPES,
      checkTimeoutMs: e.REGISTRY_CHECK_TIMEOUT_MS,
    },
    clickhouse: {
      url: e.CLICKHOUSE_URL,
      user: e.CLICKHOUSE_USER,
      password: e.CLICKHOUSE_PASSWORD,
      database: e.CLICKHOUSE_DATABASE,
    },
    topics: {
      users: e.TOPIC_USERS,
      orders: e.TOPIC_ORDERS,
      custom: e.TOPIC_CUSTOM,
      rollups: e.TOPIC_ROLLUPS,
      dlq: e.TOPIC_DLQ,
    },
    processor: {
      groupId: e.PROCESS_GROUP_ID,
      segmentSize: e.SEGMENT_SIZE,
      flushIntervalMs: e.FLUSH_INTERVAL_MS,
      maxRowsPerPartition: e.PROCESS_MAX_ROWS,
      maxPendingRows: e.PROCESS_MAX_PENDING_ROWS,
      backfillFetchBytes: e.PROCESS_BACKFILL_FETCH_BYTES,
      port: e.PROCESS_PORT,
    },
    sink: {
      groupId: e.SINK_GROUP_ID,
      batchRows: e.SINK_BATCH_ROWS,
      batchDelayMs: e.SINK_BATCH_DELAY_MS,
      port: e.SINK_PORT,
    },
    rollups: { dropGraceMs: e.ROLLUPS_DROP_GRACE_MS },
    ingestPort: e.INGEST_PORT,
    ingest: {
      writeKeys: e.WRITE_KEYS ?? [],
      authOff: e.INGEST_AUTH === 'off',
      maxEventBytes: e.INGEST_MAX_EVENT_BYTES,
      maxBodyBytes: e.INGEST_MAX_BODY_BYTES,
      maxEvents: e.INGEST_MAX_EVENTS,
      maxInflightBytes: e.INGEST_MAX_INFLIGHT_BYTES,
      diskGuard: e.INGEST_DISK_GUARD === 'on',
      lingerMs: e.INGEST_LINGER_MS,
      produceTimeoutMs: e.INGEST_PRODUCE_TIMEOUT_MS,
    },
    bridge: {
      port: e.BRIDGE_PORT,
      rabbitmqUrl: e.RABBITMQ_URL,
      sqsQueueUrl: e.SQS_QUEUE_URL,
      sqsEndpoint: e.SQS_ENDPOINT,
    },
    dashboardPort: e.DASHBOARD_PORT,
    readKeys: e.READ_KEYS ?? [],
    dashboard: {
      maxStreams: e.DASHBOARD_MAX_STREAMS,
      maxStreamsPerClient: e.DASHBOARD_MAX_STREAMS_PER_CLIENT,
      queryTimeoutMs: e.DASHBOARD_QUERY_TIMEOUT_MS,
      queryMaxMemoryBytes: e.DASHBOARD_QUERY_MAX_MEMORY_BYTES,
    },
    http: {
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: e.HTTP_KEEPALIVE_TIMEOUT_MS,
      maxConnections: e.HTTP_MAX_CONNECTIONS,
      allowedHosts: e.ALLOWED_HOSTS ?? [],
    },
    dataDir: path.resolve(e.DATA_DIR),
    stagesFile: e.STAGES_FILE,
    dataDirMinFreeBytes: e.DATA_DIR_MIN_FREE_MB * 2 ** 20,
    hosts: {
      ingest: e.INGEST_HOST ?? e.BIND_HOST ?? LOOPBACK,
      dashboard: e.DASHBOARD_HOST ?? e.BIND_HOST ?? LOOPBACK,
      other: e.BIND_HOST ?? LOOPBACK,
    },
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
  };
}
