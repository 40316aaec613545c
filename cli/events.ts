import { Command } from 'commander';
import type { Config } from '../platform/config';
import type { Kafka } from '../platform/kafka/client';
import { redactUrl } from '../platform/config';
import { loadEventTypes } from '../schemas/declarations/files';
import { avroSchemaOf, subjectOf } from '../schemas/events/avro';
import { formatDecimal, type EventTypeDeclaration, type PropertyDeclaration } from '../schemas/events/format';
import { eventTypeKey, type EventPlan, type EventTypeRecord } from '../schemas/events/plan';
import { ORDER_EVENT_TYPES, USER_EVENT_TYPES } from '../schemas/catalog';
import { withDeclarations } from './rollups';
import { formatTable } from './topics';
import type { CliContext } from './context';
import { TributaryError } from '../platform/errors';

/** The compatibility level a declared type's subject gets when it is new (docs/events.md#evolution). */
export const EVENT_COMPATIBILITY = 'FULL_TRANSITIVE';

/** A change of one type, as `events diff` and `apply` show it. */
interface Change {
  declaration: EventTypeDeclaration;
  file: string;
  schema: string;
  subject: string;
  /** The version it would be (the next one), or the live one it equals. */
  version: number;
  state: 'new' | 'changed' | 'unchanged';
  /** What changed, one phrase each. */
  notes: string[];
  /** The registry's reasons it is refused; empty: accepted. */
  refused: string[];
}

/** The few registry calls `events` makes, over HTTP with the stages' credentials (SCHEMA_REGISTRY_*). */
class RegistryHttp {
  constructor(
    private readonly url: string,
    private readonly auth: { username: string; password: string } | undefined,
  ) {}

  async call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const headers: Record<string, string> = { 'Content-Type': 'application/vnd.schemaregistry.v1+json' };
    if (this.auth)
      headers.Authorization = `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}`;
    let res: Response;
    try {
      res = await fetch(`${this.url.replace(/\/$/, '')}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      throw new TributaryError(
        'unavailable',
        `schema registry ${redactUrl(this.url)} unreachable: ${(err as Error).message}`,
      );
    }
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (res.status === 401 || res.status === 403)
      throw new TributaryError(
        'registry',
        `schema registry refused ${method} ${path}: ${res.status} ${String(json.message ?? '')} (SCHEMA_REGISTRY_USER needs role write)`,
      );
    return { status: res.status, json };
  }

  /** Why `schema` may not join `subject` under its compatibility level, in the registry's words; empty when it may. */
  async incompatibility(subject: string, schema: string): Promise<string[]> {
    const { status, json } = await this.call(
      'POST',
      `/compatibility/subjects/${encodeURIComponent(subject)}/versions?verbose=true`,
      { schema },
    );
    if (status === 404) return []; // a new subject
    if (status !== 200)
      throw new TributaryError(
        'registry',
        `schema registry: compatibility of ${subject}: ${status} ${String(json.message ?? '')}`,
      );
    if (json.is_compatible === true) return [];
    const messages = Array.isArray(json.messages) ? json.messages.map(String) : [];
    return messages.length > 0 ? messages : ['incompatible with an earlier version'];
  }

  async register(subject: string, schema: string, isNew: boolean): Promise<number> {
    if (isNew) {
      const { status, json } = await this.call('PUT', `/config/${encodeURIComponent(subject)}`, {
        compatibility: EVENT_COMPATIBILITY,
      });
      if (status !== 200)
        throw new TributaryError(
          'registry',
          `schema registry: set ${subject} to ${EVENT_COMPATIBILITY}: ${status} ${String(json.message ?? '')}`,
        );
    }
    const { status, json } = await this.call('POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema });
    if (status === 409)
      throw new TributaryError('refused', `refused by the schema registry (409): ${String(json.message ?? '')}`);
    if (status !== 200 || typeof json.id !== 'number')
      throw new TributaryError(
        'registry',
        `schema registry: register ${subject}: ${status} ${String(json.message ?? '')}`,
      );
    return json.id;
  }
}

const describe = (p: PropertyDeclaration) => {
  const bounds =
    p.type === 'decimal'
      ? `${formatDecimal(p.min!, p.scale!)}..${formatDecimal(p.max!, p.scale!)}`
      : p.min !== undefined
        ? `${p.min}..${p.max}`
        : '';
  const detail =
    p.type === 'decimal'
      ? `decimal(scale ${p.scale})`
      : p.type === 'enum'
        ? `enum(${p.values!.join('|')})`
        : p.type === 'string'
          ? `string(≤${p.maxLength})`
          : p.type;
  const need = p.required
    ? 'required'
    : p.default === null
      ? 'optional'
      : `default ${p.type === 'decimal' ? formatDecimal(p.default as number, p.scale!) : JSON.stringify(p.default)}`;
  return `${detail} ${need}${bounds ? ` ${bounds}` : ''}`;
};

/** What changed between two versions of a type, property by property. */
export function propertyChanges(before: EventTypeDeclaration, after: EventTypeDeclaration): string[] {
  const old = new Map(before.properties.map((p) => [p.name, p]));
  const now = new Map(after.properties.map((p) => [p.name, p]));
  const notes: string[] = [];
  for (const [name, p] of now) {
    const was = old.get(name);
    if (!was) notes.push(`+ ${name}: ${describe(p)}`);
    else if (describe(was) !== describe(p) || was.description !== p.description)
      notes.push(`~ ${name}: ${describe(was)} → ${describe(p)}`);
  }
  for (const [name, p] of old) if (!now.has(name)) notes.push(`- ${name}: ${describe(p)}`);
  if (before.description !== after.description) notes.push('~ description');
  return notes;
}

/** Every type of `target` compared with the plan, and what the registry says of each change. */
async function changesOf(target: string, plan: EventPlan, config: Config, registry: RegistryHttp): Promise<Change[]> {
  const loaded = loadEventTypes(target);
  if (!loaded.ok)
    throw new TributaryError(
      'invalid_input',
      `${loaded.problems.length === 1 ? 'an event type is' : `${loaded.problems.length} problems in the event types are`} refused, nothing applied:\n${loaded.problems.join('\n')}`,
    );
  const changes: Change[] = [];
  for (const { file, ...declaration } of loaded.types) {
    const schema = JSON.stringify(avroSchemaOf(declaration));
    const subject = subjectOf(config.topics.custom, declaration.name);
    const latest = plan.latest(declaration.name);
    if (latest && JSON.stringify(avroSchemaOf(latest.record.declaration)) === schema) {
      changes.push({
        declaration,
        file,
        schema,
        subject,
        version: latest.record.version,
        state: 'unchanged',
        notes: [],
        refused: [],
      });
      continue;
    }
    const refused = await registry.incompatibility(subject, schema);
    changes.push({
      declaration,
      file,
      schema,
      subject,
      version: (latest?.record.version ?? 0) + 1,
      state: latest ? 'changed' : 'new',
      notes: latest
        ? propertyChanges(latest.record.declaration, declaration)
        : declaration.properties.map((p) => `+ ${p.name}: ${describe(p)}`),
      refused,
    });
  }
  return changes;
}

/** The table of changes, then (unless `brief`) what changed in each type, property by property. */
function report(changes: Change[], brief = false): string {
  const rows = [['event type', 'version', 'change', 'subject']];
  let out = '';
  for (const c of changes) {
    rows.push([c.declaration.name, String(c.version), c.refused.length > 0 ? 'REFUSED' : c.state, c.subject]);
  }
  out += formatTable(rows);
  for (const c of changes.filter((x) => x.state !== 'unchanged' && (!brief || x.refused.length > 0))) {
    out += `\n${c.declaration.name} (${c.file}):\n${c.notes.map((n) => `  ${n}`).join('\n') || '  (schema text only)'}\n`;
    for (const r of c.refused) out += `  refused by the registry: ${r}\n`;
  }
  return out;
}

/**
 * `events apply`: reads every event type of `target`, asks the registry whether each new or
 * changed one is compatible with its subject's versions, and refuses them all, registering and
 * recording nothing, if one is not. Otherwise registers each schema under its own subject
 * (new subjects at FULL_TRANSITIVE) and records the versions on the declarations topic, which
 * ingest, the bridges and the processor follow.
 */
export async function applyEventTypes(
  ctx: CliContext,
  target: string,
  opts: { dryRun?: boolean; brief?: boolean },
  given?: { config: Config; kafka: Kafka },
): Promise<string> {
  return withDeclarations(
    ctx,
    async ({ config, book, log }) => {
      const registry = new RegistryHttp(config.registry.url, config.registry.auth);
      const changes = await changesOf(target, book.events, config, registry);
      const refused = changes.filter((c) => c.refused.length > 0);
      if (refused.length > 0) {
        throw new TributaryError(
          'refused',
          `${report(changes)}refused (409 from the schema registry): ${refused.map((c) => c.declaration.name).join(', ')} would break readers of earlier versions (docs/events.md#evolution); nothing applied`,
        );
      }
      const fresh = changes.filter((c) => c.state !== 'unchanged');
      if (opts.dryRun || fresh.length === 0)
        return `${report(changes, opts.brief)}${opts.dryRun ? 'dry run: nothing applied' : 'nothing to apply'}\n`;
      const records: Array<{ key: string; value: EventTypeRecord }> = [];
      for (const c of fresh) {
        const schemaId = await registry.register(c.subject, c.schema, c.state === 'new');
        records.push({
          key: eventTypeKey(c.declaration.name, c.version),
          value: {
            type: c.declaration.name,
            version: c.version,
            declaration: c.declaration,
            schemaId,
            subject: c.subject,
            topic: config.topics.custom,
            appliedAt: Date.now(),
          },
        });
      }
      await log.append(records);
      return `${report(changes, opts.brief)}applied ${records.length}: send them to POST /v1/events, or produce them to ${config.topics.custom} with their subject's schema\n`;
    },
    given,
  );
}

export function eventsCommand(ctx: CliContext): Command {
  const command = new Command('events').summary('declare your own event types: apply, diff, list (docs/events.md)');

  command
    .command('apply')
    .summary('register event types (a file or a directory of .yaml/.yml/.json) with a running pipeline; usable at once')
    .argument('<path>', 'an event type file, or a directory of them')
    .option('--dry-run', 'show what would change, apply nothing (as events diff)')
    .action(async (target: string, opts: { dryRun?: boolean }) => {
      ctx.out(await applyEventTypes(ctx, target, opts));
    });

  command
    .command('diff')
    .summary('what applying these event types would change, and whether the registry accepts it')
    .argument('<path>', 'an event type file, or a directory of them')
    .action(async (target: string) => {
      ctx.out(
        await withDeclarations(ctx, async ({ config, book }) => {
          const changes = await changesOf(
            target,
            book.events,
            config,
            new RegistryHttp(config.registry.url, config.registry.auth),
          );
          const refused = changes.some((c) => c.refused.length > 0);
          return `${report(changes)}${refused ? 'apply would be refused (409): nothing would be applied' : changes.some((c) => c.state !== 'unchanged') ? 'apply would accept these changes' : 'nothing to apply'}\n`;
        }),
      );
    });

  command
    .command('list')
    .summary('the event types a pipeline takes: the built-in families and the declared types')
    .option('--json', 'as JSON')
    .action((opts: { json?: boolean }) =>
      withDeclarations(ctx, async ({ config, book }) => {
        const declared = book.events.types().map((t) => book.events.latest(t)!.record);
        if (opts.json) {
          ctx.out(
            `${JSON.stringify({ builtin: { [config.topics.users]: USER_EVENT_TYPES, [config.topics.orders]: ORDER_EVENT_TYPES }, declared }, null, 2)}\n`,
          );
          return;
        }
        const rows = [['event type', 'version', 'topic', 'subject', 'properties']];
        for (const t of USER_EVENT_TYPES)
          rows.push([
            t,
            'built-in',
            config.topics.users,
            `${config.topics.users}-value`,
            'UserEvent fields (docs/schemas.md)',
          ]);
        for (const t of ORDER_EVENT_TYPES)
          rows.push([
            t,
            'built-in',
            config.topics.orders,
            `${config.topics.orders}-value`,
            'OrderEvent fields (docs/schemas.md)',
          ]);
        for (const r of declared)
          rows.push([
            r.type,
            String(r.version),
            r.topic,
            r.subject,
            r.declaration.properties.map((p) => `${p.name}:${p.type}${p.required ? '' : '?'}`).join(' ') || '-',
          ]);
        ctx.out(formatTable(rows));
      }),
    );
  return command;
}
