import avro from 'avsc';
import type { Logger } from '../platform/logger';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { ConfluentSchemaRegistryCompatibilityError } from '@kafkajs/confluent-schema-registry/dist/errors';
import { TimeoutMiddleware } from 'mappersmith/middleware/timeout';
import { TributaryError } from '../platform/errors';
import { redactUrl } from '../platform/config';
import type { SchemaEntry } from './catalog';
import { deadLettered, taken, type RecordOutcome } from './outcome';
import { decodeBody, encodeWire, schemaIdOf, WireFormatError } from './wire';

/**
 * What stages need from a Schema Registry (Confluent's, Confluent Cloud's or the embedded one):
 * register a schema at start, and resolve ids seen on the wire. Registration, lookups, HTTP Basic
 * auth, retries and the id → schema cache are @kafkajs/confluent-schema-registry's; this class
 * keeps what the library does not do: a synchronous decode on the hot path (a record whose writer
 * schema is cached decodes without a promise, into our reader type through a cached resolver),
 * and the dead-letter reason of every record it cannot decode. Ids → types are cached for the
 * life of the process: an id's schema never changes.
 */
export class SchemaClient {
  private readonly types = new Map<number, avro.Type>();
  /** Per reader, per writer id: how to read (a resolver, or none when both have one canonical form) and the record-name check. */
  private readonly readings = new WeakMap<avro.Type, Map<number, Reading>>();
  private readonly registry: SchemaRegistry;

  constructor(
    readonly url: string,
    private readonly logger: Logger,
    auth?: { username: string; password: string },
    timeoutMs = 10_000,
  ) {
    // A registry that accepts the connection and never answers must not hang a stage: 10 s per request.
    this.registry = new SchemaRegistry({
      host: url,
      clientId: 'tributary',
      middlewares: [TimeoutMiddleware(timeoutMs)],
      ...(auth ? { auth } : {}),
    });
  }

  /**
   * Registers the schema under its subject (an identical one returns the existing id) and caches
   * it. A new subject gets BACKWARD compatibility (what Tributary's evolution relies on); a subject
   * set to another level keeps it: then the schema must already be registered there, else this
   * says so.
   */
  async register(entry: SchemaEntry): Promise<number> {
    let id: number;
    try {
      ({ id } = await this.registry.register(
        { type: SchemaType.AVRO, schema: entry.text },
        { subject: entry.subject, compatibility: COMPATIBILITY.BACKWARD },
      ));
    } catch (err) {
      if (!(err instanceof ConfluentSchemaRegistryCompatibilityError))
        throw this.failure(err, `register ${entry.subject}`);
      this.logger.warn({ subject: entry.subject, detail: err.message }, 'schema.compatibility.unexpected');
      id = await this.registry
        .getRegistryIdBySchema(entry.subject, { type: SchemaType.AVRO, schema: entry.text })
        .catch((e: unknown) => {
          throw this.failure(
            e,
            `look up ${entry.subject} (its compatibility is not BACKWARD, so Tributary does not register there: register the schema yourself)`,
          );
        });
    }
    this.types.set(id, entry.type);
    this.logger.info({ subject: entry.subject, id }, 'schema.registered');
    return id;
  }

  /** The writer type of `id`, fetched once (the library coalesces concurrent misses). */
  async typeOf(id: number): Promise<avro.Type> {
    const known = this.types.get(id);
    if (known) return known;
    let schema: unknown;
    try {
      schema = await this.registry.getSchema(id);
    } catch (err) {
      if ((err as { status?: number }).status === 404)
        throw new WireFormatError(`schema id ${id} is not in the registry`, 'unknown_schema');
      throw this.failure(err, `get schema ${id}`);
    }
    if (!(schema instanceof avro.Type)) throw new WireFormatError(`schema ${id} is not Avro`, 'unknown_schema');
    this.types.set(id, schema);
    return schema;
  }

  /**
   * A registry call that failed, as one line: credentials refused are not retried (they will not
   * fix themselves); anything else is (an unreachable registry reaches us as status 400 from the
   * HTTP client, a 5xx from the registry).
   */
  private failure(err: unknown, what: string): TributaryError {
    const status = (err as { status?: number }).status;
    const message = (err as Error).message ?? String(err);
    if (status === 401 || status === 403) {
      return Object.assign(
        new TributaryError(
          'registry',
          `schema registry ${redactUrl(this.url)} refused ${what}: ${status} ${
            status === 401
              ? 'wrong or missing credentials (SCHEMA_REGISTRY_USER/SCHEMA_REGISTRY_PASSWORD or SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO)'
              : 'this user lacks the role for it'
          }`,
          { retriable: false, cause: err },
        ),
        { status },
      );
    }
    const retriable = status === undefined || status === 400 || status === 408 || status >= 500;
    return Object.assign(
      new TributaryError(
        retriable ? 'unavailable' : 'registry',
        `schema registry ${redactUrl(this.url)}: ${what} failed: ${message}`,
        {
          retriable,
          cause: err,
        },
      ),
      { status },
    );
  }

  encode(id: number, type: avro.Type, value: unknown): Buffer {
    return encodeWire(id, type, value);
  }

  /** Decodes a wire-format value with its writer schema, or resolved into `reader`. */
  async decode<T>(buffer: Buffer | null, reader?: avro.Type): Promise<T> {
    const known = this.decodeCached<T>(buffer, reader);
    if (known !== NOT_CACHED) return known;
    await this.typeOf(schemaIdOf(buffer));
    return this.decodeCached<T>(buffer, reader) as T;
  }

  /**
   * The hot path: decodes synchronously when the writer's schema is already cached, else returns
   * NOT_CACHED (then `decode` fetches it once). Throws WireFormatError for bytes that are not a
   * wire-format value of their schema.
   */
  decodeCached<T>(buffer: Buffer | null, reader?: avro.Type): T | typeof NOT_CACHED {
    const id = schemaIdOf(buffer);
    const writer = this.types.get(id);
    if (!writer) return NOT_CACHED;
    if (!reader || reader === writer) return decodeBody<T>(buffer!, writer);
    return decodeBody<T>(buffer!, reader, this.resolverOf(this.readingOf(reader, id, writer), reader, writer));
  }

  /**
   * What `reader` needs to know of writer `id`, worked out once per pair: the processor decodes
   * every event through here.
   */
  private readingOf(reader: avro.Type, id: number, writer: avro.Type): Reading {
    let byId = this.readings.get(reader);
    if (!byId) this.readings.set(reader, (byId = new Map()));
    let reading = byId.get(id);
    if (!reading) {
      const writerName = (writer as { name?: string }).name ?? '';
      reading = {
        sameName: writerName.split('.').pop() === reader.name?.split('.').pop(),
        writerName: writerName || writer.typeName,
        identical: writer.fingerprint().equals(reader.fingerprint()),
        resolver: undefined,
      };
      byId.set(id, reading);
    }
    return reading;
  }

  /**
   * None when both have one canonical form: the same bytes, which the reader reads itself (a
   * resolver costs more per value). Otherwise avsc's resolver, created the first time; it throws
   * for a writer the reader cannot resolve (and is then tried again next time, as before).
   */
  private resolverOf(reading: Reading, reader: avro.Type, writer: avro.Type): avro.Resolver | undefined {
    if (reading.identical) return undefined;
    return (reading.resolver ??= reader.createResolver(writer));
  }

  /**
   * One record's outcome, decoded into `reader`: taken, or dead-lettered with why (`undecodable`,
   * `unknown_schema`, `wrong_schema` for a record of another type, `incompatible_schema` for a
   * writer the reader cannot resolve). The hot path: synchronous when the writer schema is
   * cached, else NOT_CACHED (then `decodeRecord` fetches it once).
   */
  decodeRecordNow<T>(value: Buffer | null, reader: avro.Type): RecordOutcome<T> | typeof NOT_CACHED {
    try {
      const id = schemaIdOf(value);
      const writer = this.types.get(id);
      if (!writer) return NOT_CACHED;
      if (reader === writer) return taken(decodeBody<T>(value!, writer));
      const reading = this.readingOf(reader, id, writer);
      if (!reading.sameName)
        return deadLettered('wrong_schema', `a ${reading.writerName} record, expected ${reader.name}`);
      return taken(decodeBody<T>(value!, reader, this.resolverOf(reading, reader, writer)));
    } catch (err) {
      if (err instanceof WireFormatError) return deadLettered(err.reason, err.message);
      return deadLettered('incompatible_schema', (err as Error).message);
    }
  }

  /**
   * decodeRecord into whichever of `readers` has the writer's record name (a topic holding more
   * than one record type, e.g. rollup rows and blocks); `wrong_schema` when none has.
   */
  async decodeRecordOf<T>(value: Buffer | null, readers: avro.Type[]): Promise<RecordOutcome<T>> {
    let outcome = await this.decodeRecord<T>(value, readers[0]!);
    for (let i = 1; i < readers.length && !outcome.ok && outcome.reason === 'wrong_schema'; i++)
      outcome = await this.decodeRecord<T>(value, readers[i]!);
    if (!outcome.ok && outcome.reason === 'wrong_schema')
      return deadLettered(
        'wrong_schema',
        outcome.message.replace(/, expected .*$/, `, expected one of ${readers.map((r) => r.name).join(', ')}`),
      );
    return outcome;
  }

  /**
   * decodeRecordNow, fetching the writer schema first when it is not cached. Rejects only when
   * the registry cannot answer (a retriable TributaryError): never a dead letter for an outage.
   */
  async decodeRecord<T>(value: Buffer | null, reader: avro.Type): Promise<RecordOutcome<T>> {
    const now = this.decodeRecordNow<T>(value, reader);
    if (now !== NOT_CACHED) return now;
    try {
      await this.typeOf(schemaIdOf(value));
    } catch (err) {
      if (err instanceof WireFormatError) return deadLettered(err.reason, err.message);
      throw err;
    }
    return this.decodeRecordNow<T>(value, reader) as RecordOutcome<T>;
  }
}

export const NOT_CACHED = Symbol('not cached');

interface Reading {
  sameName: boolean;
  writerName: string;
  identical: boolean;
  resolver: avro.Resolver | undefined;
}
