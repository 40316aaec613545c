/**
 * What went wrong, as a closed list: every error Tributary throws on purpose is a TributaryError
 * with one of these codes. The CLI prints its message as one line and exits with the code's
 * exit status (docs/operations.md#exit-codes); a stage logs the code.
 */
export const ERROR_CODES = {
  config: 'a setting is missing or wrong; the message names the variable or option',
  prerequisite: 'a program the command needs (Java, Maven, a queue server) is missing or too old',
  port_in_use: 'a port the command would listen on is taken',
  data_dir: 'DATA_DIR is not usable (not writable, too little free space)',
  data_dir_in_use: 'another tributary start or kafka runs on this DATA_DIR',
  start_failed:
    'a server the command starts (Kafka, RabbitMQ, ElasticMQ, a stage) exited or did not become ready; the message names its log',
  topic_mismatch: 'a topic exists with another partition count or cleanup policy than the pipeline needs',
  refused: 'the pipeline refused what was asked (a replay while the group is active, an incompatible declaration)',
  not_found: 'something the command names does not exist (a topic, a group, a dead letter, a rollup)',
  invalid_input: 'an argument, a declaration or an event is not valid; the message says where',
  partial_send: 'Kafka acknowledged a send without some partitions (retried)',
  produce_failed: 'Kafka did not acknowledge events (the producer library)',
  wire_format: 'a record is not in the Confluent wire format, or names an unknown schema',
  registry: 'the schema registry refused or failed a request',
  unavailable: 'Kafka, the schema registry, ClickHouse or a queue server did not answer; retrying may help',
  stopping: 'the stage is stopping: the work was left for its next start (nothing to fix)',
  internal: 'a fault in Tributary itself; please report it',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Exit statuses of the CLI: 1 when something must be fixed first, 75 (EX_TEMPFAIL, sysexits.h)
 * when running the same command later may succeed, 70 (EX_SOFTWARE) for a fault of ours.
 */
export function exitStatus(code: ErrorCode): number {
  if (code === 'unavailable') return 75;
  if (code === 'internal') return 70;
  return 1;
}

/**
 * The base of every error Tributary throws on purpose: a code from ERROR_CODES, whether retrying
 * can help, and the error that caused it.
 * @see https://github.com/tulios/kafkajs/blob/master/src/errors.js (the same idea: `retriable`)
 */
export class TributaryError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'TributaryError';
    this.code = code;
    this.retriable = options.retriable ?? code === 'unavailable';
  }
}

/**
 * The code of any error: a TributaryError's own, `unavailable` for what isRetriable says may pass
 * (a network failure, a kafkajs error that says so), `internal` for a programmer error, and
 * `refused` for the rest (an error from a library or a server that said no).
 */
export function errorCode(err: unknown): ErrorCode {
  if (err instanceof TributaryError) return err.code;
  if (isProgrammerError(err)) return 'internal';
  return isRetriable(err) ? 'unavailable' : 'refused';
}

/** Programmer errors are never retried: retrying a TypeError only hides the bug. */
export function isProgrammerError(err: unknown): boolean {
  return (
    err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError || err instanceof ReferenceError
  );
}

/**
 * True when an operation that failed with `err` may succeed if tried again: a TributaryError or a
 * kafkajs error that says so, or a network failure. Unknown errors are not retriable.
 */
export function isRetriable(err: unknown): boolean {
  if (isProgrammerError(err)) return false;
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { retriable?: unknown; code?: unknown; name?: unknown; cause?: unknown };
  if (typeof e.retriable === 'boolean') {
    // kafkajs wraps the last retriable error when it gives up; that outage may still end.
    if (e.name === 'KafkaJSNumberOfRetriesExceeded' || e.name === 'KafkaJSNonRetriableError')
      return isRetriable(e.cause);
    return e.retriable;
  }
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSRequestTimeoutError') return true;
  return false;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
]);

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
