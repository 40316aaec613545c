import {
  KafkaJSConnectionError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSNonRetriableError,
} from 'kafkajs';
import { ConfigError } from '../config';
import { ERROR_CODES, TributaryError, errorCode, exitStatus, isRetriable } from '../errors';
import { PortInUseError } from '../local/ports';
import { ReplayError } from './replay';

describe('isRetriable', () => {
  it('retries outages, not programmer errors or rejections', () => {
    expect(isRetriable(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'))).toBe(true);
    expect(isRetriable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isRetriable(new TributaryError('unavailable', 'clickhouse down'))).toBe(true);
    expect(isRetriable(new TypeError('x is undefined'))).toBe(false);
    expect(isRetriable(new TributaryError('registry', 'bad schema'))).toBe(false);
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

describe('the error vocabulary', () => {
  it("gives every error a code and the CLI's exit status: fix (1), try later (75), report (70)", () => {
    const cases: Array<[unknown, string, number]> = [
      [new ConfigError('KAFKA_BROKERS="x": expected host:port'), 'config', 1],
      [new PortInUseError('port 9092 is in use'), 'port_in_use', 1],
      [new ReplayError('unknown topic t', 'not_found'), 'not_found', 1],
      [new TributaryError('unavailable', 'no insert for 31 s'), 'unavailable', 75],
      [new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'), 'unavailable', 75],
      [new TypeError('x is undefined'), 'internal', 70],
      [new Error('a library said no'), 'refused', 1],
    ];
    for (const [err, code, status] of cases) {
      expect({ err: String(err), code: errorCode(err), status: exitStatus(errorCode(err)) }).toEqual({
        err: String(err),
        code,
        status,
      });
    }
  });

  it('keeps each subclass what it was: its name, its message, instanceof, retriable by code', () => {
    const err = new PortInUseError('port 9092 (Kafka node 1 client listener) is already in use');
    expect(err).toBeInstanceOf(TributaryError);
    expect(err).toBeInstanceOf(PortInUseError);
    expect([err.name, err.message, err.retriable]).toEqual([
      'PortInUseError',
      'port 9092 (Kafka node 1 client listener) is already in use',
      false,
    ]);
    expect(new TributaryError('unavailable', 'down').retriable).toBe(true);
    expect(Object.keys(ERROR_CODES)).toContain(err.code);
  });
});
