import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, PLACEHOLDERS, optional, port, positiveInt, section, topicName, url } from '../platform/config';
import { DEFAULT_EVENT_LIMITS, type EventLimits, type NumericLimit } from './limits';

/**
 * The contract's settings: the schema registry (where the stages find it, the embedded one's
 * users and limits), the pipeline's topic names, and the bounds of every event.
 */

export type RegistryRole = 'read' | 'write' | 'admin';
export interface RegistryUser {
  name: string;
  role: RegistryRole;
  password: string;
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

function registryUsers(e: {
  REGISTRY_USERS?: string | undefined;
  REGISTRY_USERS_FILE?: string | undefined;
}): RegistryUser[] {
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

function registryAuth(e: {
  SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO?: string | undefined;
  SCHEMA_REGISTRY_USER?: string | undefined;
  SCHEMA_REGISTRY_PASSWORD?: string | undefined;
}): { username: string; password: string } | undefined {
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

const codeList = (pattern: RegExp, message: string) =>
  z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(pattern, message)));

export const schemasSection = section(
  {
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
    TOPIC_USERS: optional(topicName).default('events.users'),
    TOPIC_ORDERS: optional(topicName).default('events.orders'),
    TOPIC_ROLLUPS: optional(topicName).default('rollups'),
    TOPIC_DLQ: optional(topicName).default('events.dlq'),
    /** The topic of every declared event type (docs/events.md). */
    TOPIC_CUSTOM: optional(topicName).default('events.custom'),
    /** Overrides of DEFAULT_EVENT_LIMITS as JSON, e.g. {"items":200,"sku":256}. */
    EVENT_LIMITS: optional(eventLimitsJson),
    /** Currency codes accepted besides ISO 4217's, comma-separated (three capital letters each), e.g. XBT. */
    EXTRA_CURRENCIES: optional(codeList(/^[A-Z]{3}$/, 'expected three capital letters')),
    /** Country codes accepted besides ISO 3166-1 alpha-2's, comma-separated (two capital letters each), e.g. XK. */
    EXTRA_COUNTRIES: optional(codeList(/^[A-Z]{2}$/, 'expected two capital letters')),
  },
  (e) => {
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
    return {
      registry: {
        url: e.SCHEMA_REGISTRY_URL ?? `http://localhost:${e.REGISTRY_PORT}`,
        embedded: e.SCHEMA_REGISTRY_URL === undefined,
        port: e.REGISTRY_PORT,
        /** What the stages present to the registry. */
        auth,
        /** The embedded registry's own users, limits and whether anonymous GETs are allowed. */
        users,
        anonymousReads: e.REGISTRY_ANONYMOUS_READS === 'true',
        maxSubjects: e.REGISTRY_MAX_SUBJECTS,
        maxBodyBytes: e.REGISTRY_MAX_BODY_BYTES,
        maxVersions: e.REGISTRY_MAX_VERSIONS,
        maxUnionBranches: e.REGISTRY_MAX_UNION_BRANCHES,
        maxNamedTypes: e.REGISTRY_MAX_NAMED_TYPES,
        checkTimeoutMs: e.REGISTRY_CHECK_TIMEOUT_MS,
      },
      /** `custom`: the topic of every declared event type (docs/events.md). */
      topics: {
        users: e.TOPIC_USERS,
        orders: e.TOPIC_ORDERS,
        custom: e.TOPIC_CUSTOM,
        rollups: e.TOPIC_ROLLUPS,
        dlq: e.TOPIC_DLQ,
      },
      /** Bounds of every accepted event, at every way in and in the processor. */
      eventLimits,
    };
  },
);

declare module '../platform/config' {
  interface Config extends ReturnType<typeof schemasSection.build> {}
}
