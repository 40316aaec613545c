import { SCHEMAS, type DeadLetter } from './catalog';
import type { SchemaClient } from './client';
import type { DeadLetterReason } from './outcome';

/**
 * Everything a dead letter records except when it failed and what was cut (stamped on creation);
 * its reason from the closed list (a letter read back may carry any string: other writers, older versions).
 */
export type DeadLetterInput = Omit<DeadLetter, 'failedAt' | 'truncatedFrom' | 'reason'> & { reason: DeadLetterReason };

/**
 * What a dead letter keeps of the original, so that one always fits under a broker's
 * message.max.bytes (1 MB by default, often the same on managed Kafka) with room to spare: a
 * dead letter that cannot be sent would block what it was meant to unblock.
 */
export const DEAD_LETTER_LIMITS = { valueBytes: 64 * 1024, keyBytes: 1024, messageChars: 4096 } as const;

/**
 * A record for events.dlq: the original bytes (the first 64 KiB of a larger one, with its size in
 * `truncatedFrom`) plus where they came from and why, keyed by `source/partition/offset` (or
 * `source/<message id>` for a queue message) so repeated dead-lettering of the same record (a
 * replay, a redelivery) is recognisable.
 */
export function deadLetter(
  input: DeadLetterInput,
  schemaId: number,
  schemas: SchemaClient,
  messageId?: string,
): { key: string; value: Buffer } {
  const { valueBytes, keyBytes, messageChars } = DEAD_LETTER_LIMITS;
  const cut = (input.value?.length ?? 0) > valueBytes || (input.key?.length ?? 0) > keyBytes;
  const record: DeadLetter = {
    ...input,
    key: input.key && input.key.length > keyBytes ? input.key.subarray(0, keyBytes) : input.key,
    value: input.value && input.value.length > valueBytes ? input.value.subarray(0, valueBytes) : input.value,
    message:
      input.message.length > messageChars
        ? `${input.message.slice(0, messageChars)}… (${input.message.length} characters)`
        : input.message,
    failedAt: Date.now(),
    truncatedFrom: cut ? (input.value?.length ?? 0) : null,
  };
  const id =
    messageId === undefined
      ? `${input.source}/${input.partition ?? '-'}/${input.offset ?? '-'}`
      : `${input.source}/${messageId.slice(0, 256)}`;
  return { key: id.slice(0, 1024), value: schemas.encode(schemaId, SCHEMAS.deadLetter.type, record) };
}
