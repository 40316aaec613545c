import { isProgrammerError } from '../platform/errors';

/**
 * ClickHouse refusing the data itself (a value it cannot parse or store), or our own bug turning
 * a row into a record: the same rows fail the same way every time, so retrying cannot help.
 * @see https://github.com/ClickHouse/ClickHouse/blob/master/src/Common/ErrorCodes.cpp
 */
const DATA_ERRORS = new Set([
  'CANNOT_PARSE_TEXT',
  'CANNOT_PARSE_QUOTED_STRING',
  'CANNOT_PARSE_DATE',
  'CANNOT_PARSE_DATETIME',
  'CANNOT_PARSE_NUMBER',
  'CANNOT_PARSE_INPUT_ASSERTION_FAILED',
  'CANNOT_READ_ALL_DATA',
  'TYPE_MISMATCH',
  'INCORRECT_DATA',
  'ARGUMENT_OUT_OF_BOUND',
  'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE',
  'CANNOT_CONVERT_TYPE',
  'TOO_LARGE_STRING_SIZE',
  'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN',
  'DECIMAL_OVERFLOW',
  'NO_SUCH_COLUMN_IN_TABLE',
  'INCORRECT_NUMBER_OF_COLUMNS',
]);

export function isDataError(err: unknown): boolean {
  return isProgrammerError(err) || DATA_ERRORS.has(String((err as { type?: unknown }).type ?? ''));
}

/** ClickHouse refusing a batch for its size (memory, query or body limits), not an outage. */
export function isTooLarge(err: unknown): boolean {
  const e = err as { code?: string; type?: string; message?: string };
  return /MEMORY_LIMIT_EXCEEDED|TOO_LARGE|too large|Max query size exceeded|413/i.test(
    `${e.code ?? ''} ${e.type ?? ''} ${e.message ?? ''}`,
  );
}
