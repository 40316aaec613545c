import avro from 'avsc';
import type { EventTypeDeclaration, PropertyDeclaration } from './format';

/**
 * A declared event type as Avro (docs/events.md#the-avro-schema): the envelope every event has
 * (eventId, userId, occurredAt, receivedAt, origin) and a `properties` record with one typed
 * field per declared property. Its full name is `dev.tributary.custom.<type>`, registered under
 * `<custom topic>-dev.tributary.custom.<type>` (Confluent's TopicRecordNameStrategy), so one
 * topic holds every declared type and each type evolves on its own. A property's bounds travel
 * in the schema (`tributary` attributes): a schema id names one set of rules, so the processor
 * re-checks a record by the version it was written with, the same on every recomputation.
 */
export const CUSTOM_NAMESPACE = 'dev.tributary.custom';
/** Every custom event's envelope fields, in order; `properties` follows them. */
export const ENVELOPE_FIELDS = ['eventId', 'userId', 'occurredAt', 'receivedAt', 'origin'] as const;
/** A decimal's Avro precision: every value within MAX_MAGNITUDE has at most 12 digits. */
export const DECIMAL_PRECISION = 18;

export const fullNameOf = (type: string) => `${CUSTOM_NAMESPACE}.${type}`;
/** The registry subject of a declared type (TopicRecordNameStrategy). */
export const subjectOf = (topic: string, type: string) => `${topic}-${fullNameOf(type)}`;
/** The declared type a custom record's full name names, if it is one. */
export const typeOfFullName = (name: string | undefined) =>
  name?.startsWith(`${CUSTOM_NAMESPACE}.`) ? name.slice(CUSTOM_NAMESPACE.length + 1) : undefined;

/** One custom event: the envelope and its typed properties (a decimal as its Avro bytes). */
export interface CustomEvent {
  eventId: string;
  userId: string;
  occurredAt: number;
  receivedAt: number | null;
  origin: string | null;
  properties: Record<string, PropertyValue>;
}
export type PropertyValue = string | number | boolean | Buffer | null;

const TIMESTAMP = { type: 'long', logicalType: 'timestamp-millis' };

function baseType(typeName: string, p: PropertyDeclaration): unknown {
  switch (p.type) {
    case 'string':
      return 'string';
    case 'long':
      return 'long';
    case 'decimal':
      return { type: 'bytes', logicalType: 'decimal', precision: DECIMAL_PRECISION, scale: p.scale };
    case 'boolean':
      return 'boolean';
    case 'timestamp':
      return TIMESTAMP;
    case 'enum':
      return { type: 'enum', name: `${typeName}_${p.name}`, symbols: p.values };
  }
}

/** The Avro default of a property with one (a decimal's is its bytes as a string of code points). */
function avroDefault(p: PropertyDeclaration): unknown {
  return p.type === 'decimal' ? decimalBytes(p.default as number).toString('latin1') : p.default;
}

/** The schema of a declared type, as registered (the same declaration always gives the same text). */
export function avroSchemaOf(d: EventTypeDeclaration): Record<string, unknown> {
  const properties = d.properties.map((p) => {
    const rules = Object.fromEntries(
      Object.entries({ min: p.min, max: p.max, maxLength: p.maxLength }).filter(([, v]) => v !== undefined),
    );
    const type = baseType(d.name, p);
    return {
      name: p.name,
      ...(p.description ? { doc: p.description } : {}),
      ...(p.default === null && !p.required
        ? { type: ['null', type], default: null }
        : p.default !== null
          ? { type, default: avroDefault(p) }
          : { type }),
      ...(Object.keys(rules).length > 0 ? { tributary: rules } : {}),
    };
  });
  return {
    type: 'record',
    name: d.name,
    namespace: CUSTOM_NAMESPACE,
    ...(d.description ? { doc: d.description } : {}),
    fields: [
      { name: 'eventId', type: 'string' },
      { name: 'userId', type: 'string', doc: 'The user; also the Kafka record key, which decides the partition.' },
      { name: 'occurredAt', type: TIMESTAMP },
      { name: 'receivedAt', type: ['null', TIMESTAMP], default: null },
      { name: 'origin', type: ['null', 'string'], default: null },
      { name: 'properties', type: { type: 'record', name: `${d.name}_properties`, fields: properties } },
    ],
  };
}

export function avroTypeOf(d: EventTypeDeclaration): avro.Type {
  return avro.Type.forSchema(avroSchemaOf(d) as avro.Schema);
}

/** An unscaled decimal as Avro's decimal bytes: two's complement, big-endian, as short as it can be. */
export function decimalBytes(unscaled: number): Buffer {
  let n = BigInt(unscaled);
  const bytes: number[] = [];
  for (;;) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
    const sign = bytes[0]! & 0x80;
    if ((n === 0n && sign === 0) || (n === -1n && sign !== 0)) break;
  }
  return Buffer.from(bytes);
}

/** Avro decimal bytes → the unscaled value; NaN when it needs more than 8 bytes or is past 2^53 (then out of any bound). */
export function decimalValue(bytes: Buffer): number {
  if (bytes.length === 0) return 0;
  if (bytes.length > 8) return NaN;
  const n = BigInt.asIntN(8 * bytes.length, BigInt(`0x${bytes.toString('hex')}`));
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  return n > max || n < -max ? NaN : Number(n);
}
