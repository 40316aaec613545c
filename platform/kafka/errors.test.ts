import {
  KafkaJSConnectionError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSNonRetriableError,
} from 'kafkajs';
import { TributaryError, isRetriable } from '../errors';

describe('isRetriable', () => {
  it('retries outages, not programmer errors or rejections', () => {
    expect(isRetriable(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'))).toBe(true);
    expect(isRetriable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isRetriable(new TributaryError('clickhouse down', { retriable: true }))).toBe(true);
    expect(isRetriable(new TypeError('x is undefined'))).toBe(false);
    expect(isRetriable(new TributaryError('bad schema', { retriable: false }))).toBe(false);
    expect(isRetriable(new Error('unknown'))).toBe(false);
  });

  it('looks through kafkajs giving up to the error it gave up on', () => {
    const outage = new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('down'), {
      retryCount: 5,
      retryTime: 100,
    });
    expect(isRetriable(outage)).toBe(true);
    const rejected = new KafkaJSNonRetriableError(
      new KafkaJSProtocolError(
        Object.assign(new Error('invalid'), { type: 'INVALID_REQUEST', code: 42, retriable: false }),
      ),
    );
    expect(isRetriable(rejected)).toBe(false);
  });
});
