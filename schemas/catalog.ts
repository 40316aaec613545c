import { readFileSync } from 'node:fs';
import path from 'node:path';
import avro from 'avsc';
import type { CustomEvent } from './events/avro';

/**
 * The Avro schemas of the public contract, read from the .avsc files beside this module, and
 * the subjects they are registered under (TopicNameStrategy: `<topic>-value`).
 */
export interface SchemaEntry {
  name: string;
  subject: string;
  /** The schema text as registered (the .avsc file, compacted). */
  text: string;
  type: avro.Type;
}

function load(file: string, subject: string): SchemaEntry {
  const json = JSON.parse(readFileSync(path.join(__dirname, 'avro', file), 'utf8')) as { name: string };
  return { name: json.name, subject, text: JSON.stringify(json), type: avro.Type.forSchema(json as avro.Schema) };
}

/**
 * The block of rollup rows (schemas/rollup.ts): RollupBlock.avsc names its rows' type, which
 * is written out here from RollupRow.avsc so the registered schema stands alone. Registered under
 * `<rollups topic>-dev.tributary.rollups.RollupBlock` (Confluent's TopicRecordNameStrategy): rows
 * alone keep `rollups-value` and their schema as before.
 */
function loadBlock(rowFile = 'RollupRow.avsc', blockFile = 'RollupBlock.avsc'): SchemaEntry {
  const row = JSON.parse(readFileSync(path.join(__dirname, 'avro', rowFile), 'utf8')) as {
    name: string;
    namespace: string;
  };
  const block = JSON.parse(readFileSync(path.join(__dirname, 'avro', blockFile), 'utf8')) as {
    name: string;
    namespace: string;
    fields: Array<{ type: { items: unknown } }>;
  };
  block.fields[0]!.type.items = row;
  const name = `${block.namespace}.${block.name}`;
  return {
    name,
    subject: `rollups-${name}`,
    text: JSON.stringify(block),
    type: avro.Type.forSchema(block as unknown as avro.Schema),
  };
}

export const SCHEMAS = {
  user: load('UserEvent.avsc', 'events.users-value'),
  order: load('OrderEvent.avsc', 'events.orders-value'),
  rollup: load('RollupRow.avsc', 'rollups-value'),
  /** Rows that travel together in one `rollups` record; its subject is the topic's plus the record's full name. */
  rollupBlock: loadBlock(),
  deadLetter: load('DeadLetter.avsc', 'events.dlq-value'),
  /** Rows of a declared rollup (docs/rollups.md, DeclaredRow.avsc written in); like the block, under the topic's subject plus its full name. */
  declaredBlock: loadBlock('DeclaredRow.avsc', 'DeclaredBlock.avsc'),
} as const;

export type SchemaName = keyof typeof SCHEMAS;

export const USER_EVENT_TYPES = ['signup', 'login', 'logout', 'page_view', 'profile_update'] as const;
export const ORDER_EVENT_TYPES = [
  'order_placed',
  'order_paid',
  'order_shipped',
  'order_cancelled',
  'order_refunded',
] as const;
export type UserEventType = (typeof USER_EVENT_TYPES)[number];
export type OrderEventType = (typeof ORDER_EVENT_TYPES)[number];

export interface UserEvent {
  eventId: string;
  type: UserEventType;
  userId: string;
  occurredAt: number;
  receivedAt: number | null;
  sessionId: string | null;
  country: string | null;
  device: string | null;
  page: string | null;
  properties: Record<string, string>;
  /** Who accepted it (a write key's id, a bridge's source); null when produced straight to Kafka. */
  origin: string | null;
}

export interface OrderItem {
  sku: string;
  category: string | null;
  quantity: number;
  unitPriceCents: number;
}

export interface OrderEvent {
  eventId: string;
  type: OrderEventType;
  userId: string;
  occurredAt: number;
  receivedAt: number | null;
  orderId: string;
  currency: string | null;
  amountCents: number | null;
  country: string | null;
  items: OrderItem[];
  /** Who accepted it (a write key's id, a bridge's source); null when produced straight to Kafka. */
  origin: string | null;
}

/**
 * A user, an order or a declared event (docs/events.md), tagged with its kind: what ingest
 * encodes and the processor decodes. A declared one carries its type and the schema id of the
 * version it was written with.
 */
export type PipelineEvent =
  | { kind: 'user'; record: UserEvent }
  | { kind: 'order'; record: OrderEvent }
  | { kind: 'custom'; type: string; schemaId: number; record: CustomEvent };

export interface DeadLetter {
  source: string;
  partition: number | null;
  offset: number | null;
  key: Buffer | null;
  value: Buffer | null;
  stage: string;
  reason: string;
  message: string;
  failedAt: number;
  /** The original value's size when `value` (or `key`) holds only its first bytes; null when whole. */
  truncatedFrom: number | null;
}
