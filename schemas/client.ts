import avro from 'avsc';
import type { Logger } from '../platform/logger';
import { TributaryError } from '../platform/errors';
import type { SchemaEntry } from './catalog';
import { deadLettered, taken, type RecordOutcome } from './outcome';
import { decodeBody, encodeWire, schemaIdOf, WireFormatError } from './wire';

const ACCEPT = 'application/vnd.schemaregistry.v1+json';

/**
 * What stages need from a Schema Registry (Confluent's or the embedded one): register or look
 * up a schema at start, and resolve ids seen on the wire. Ids → types are cached for the life of
 * the process: an id's schema never changes.
 */
export class SchemaClient {
  private readonly types = new Map<number, avro.Type>();
  private readonly pending = new Map<number, Promise<avro.Type>>();
  private readonly resolvers = new WeakMap<avro.Type, Map<number, avro.Resolver>>();

  constructor(readonly url: string, private readonly logger: Logger) {}

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: { accept: ACCEPT, ...(body === undefined ? {} : { 'content-type': ACCEPT }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      throw new TributaryError(`schema registry ${this.url} unreachable: ${(err as Error).message}`, { retriable: true, cause: err });
    }
    const text = await res.text();
    if (!res.ok) {
      const parsed = safeJson(text) as { error_code?: number; message?: string } | undefined;
      throw Object.assign(new TributaryError(`schema registry ${method} ${path}: ${res.status} ${parsed?.message ?? text}`, { retriable: res.status >= 500 }), {
        status: res.status,
        errorCode: parsed?.error_code,
      });
    }
    return JSON.parse(text) as T;
  }

  /**
   * Registers the schema under its subject (an identical one returns the existing id), caches
   * it, and reports a subject whose compatibility level is not the expected one.
   */
  async register(entry: SchemaEntry, expectedCompatibility = 'BACKWARD'): Promise<number> {
    const { id } = await this.request<{ id: number }>('POST', `/subjects/${encodeURIComponent(entry.subject)}/versions`, { schema: entry.text });
    this.types.set(id, entry.type);
    const { compatibilityLevel } = await this.request<{ compatibilityLevel: string }>('GET', `/config/${encodeURIComponent(entry.subject)}?defaultToGlobal=true`);
    if (compatibilityLevel !== expectedCompatibility) {
      this.logger.warn({ subject: entry.subject, compatibilityLevel, expected: expectedCompatibility }, 'schema.compatibility.unexpected');
    }
    this.logger.info({ subject: entry.subject, id }, 'schema.registered');
    return id;
  }

  /** The writer type of `id`, fetched once. */
  async typeOf(id: number): Promise<avro.Type> {
    const known = this.types.get(id);
    if (known) return known;
    let pending = this.pending.get(id);
    if (!pending) {
      pending = this.request<{ schema: string; schemaType?: string }>('GET', `/schemas/ids/${id}`).then((r) => {
        if (r.schemaType && r.schemaType !== 'AVRO') throw new WireFormatError(`schema ${id} is ${r.schemaType}, not Avro`, 'unknown_schema');
        const type = avro.Type.forSchema(JSON.parse(r.schema) as avro.Schema);
        this.types.set(id, type);
        return type;
      }, (err: { status?: number }) => {
        if (err.status === 404) throw new WireFormatError(`schema id ${id} is not in the registry`, 'unknown_schema');
        throw err;
      }).finally(() => this.pending.delete(id));
      this.pending.set(id, pending);
    }
    return pending;
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
    let byId = this.resolvers.get(reader);
    if (!byId) this.resolvers.set(reader, (byId = new Map()));
    let resolver = byId.get(id);
    if (!resolver) byId.set(id, (resolver = reader.createResolver(writer)));
    return decodeBody<T>(buffer!, reader, resolver);
  }

  /**
   * One record's outcome, decoded into `reader`: taken, or dead-lettered with why (`undecodable`,
   * `unknown_schema`, `wrong_schema` for a record of another type, `incompatible_schema` for a
   * writer the reader cannot resolve). The hot path: synchronous when the writer schema is
   * cached, else NOT_CACHED (then `decodeRecord` fetches it once).
   */
  decodeRecordNow<T>(value: Buffer | null, reader: avro.Type): RecordOutcome<T> | typeof NOT_CACHED {
    try {
      const writer = this.types.get(schemaIdOf(value));
      if (!writer) return NOT_CACHED;
      const writerName = (writer as { name?: string }).name ?? '';
      if (writerName.split('.').pop() !== reader.name?.split('.').pop()) {
        return deadLettered('wrong_schema', `a ${writerName || writer.typeName} record, expected ${reader.name}`);
      }
      return taken(this.decodeCached<T>(value, reader) as T);
    } catch (err) {
      if (err instanceof WireFormatError) return deadLettered(err.reason, err.message);
      return deadLettered('incompatible_schema', (err as Error).message);
    }
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

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
