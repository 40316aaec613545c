import { SCHEMAS, type DeadLetter } from './catalog';
import type { SchemaClient } from './client';

/** Everything a dead letter records except when it failed (stamped on creation). */
export type DeadLetterInput = Omit<DeadLetter, 'failedAt'>;

/**
 * A record for events.dlq: the original bytes untouched plus where they came from and why,
 * keyed by `source/partition/offset` (or `source/<message id>` for a queue message) so repeated
 * dead-lettering of the same record (a replay, a redelivery) is recognisable.
 */
export function deadLetter(input: DeadLetterInput, schemaId: number, schemas: SchemaClient, messageId?: string): { key: string; value: Buffer } {
  const record: DeadLetter = { ...input, failedAt: Date.now() };
  return {
    key: messageId === undefined ? `${input.source}/${input.partition ?? '-'}/${input.offset ?? '-'}` : `${input.source}/${messageId}`,
    value: schemas.encode(schemaId, SCHEMAS.deadLetter.type, record),
  };
}
