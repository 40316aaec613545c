import type { Kafka } from '../../platform/kafka/client';
import { JsonLog } from '../../platform/kafka/json-log';
import type { Logger } from '../../platform/logger';
import { DeclarationBook, declarationsTopic } from './book';

/** The declarations topic of `rollupsTopic`, read whole, then followed: the book and the log to append to. */
export async function openDeclarations(deps: {
  kafka: Kafka;
  logger: Logger;
  rollupsTopic: string;
  replicationFactor?: number;
}): Promise<{ book: DeclarationBook; log: JsonLog }> {
  const book = new DeclarationBook();
  const log = await JsonLog.open({
    kafka: deps.kafka,
    logger: deps.logger,
    topic: declarationsTopic(deps.rollupsTopic),
    replicationFactor: deps.replicationFactor,
    onRecord: (key, value) => book.apply(key, value),
  });
  book.events.sync = () => log.sync();
  return { book, log };
}
