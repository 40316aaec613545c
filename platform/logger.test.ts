import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { LOG_REDACTION, redactUrls } from './logger';

/** Secrets never reach a log line. */
describe('log redaction', () => {
  function logged(write: (logger: pino.Logger) => void): Record<string, unknown> {
    let line = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        line += chunk.toString();
        done();
      },
    });
    write(pino({ level: 'info', ...LOG_REDACTION }, sink));
    return JSON.parse(line) as Record<string, unknown>;
  }

  it('writes credentials under their usual names as ***, at any depth up to three', () => {
    const entry = logged((l) =>
      l.info(
        {
          password: 'p1',
          headers: { authorization: 'Bearer k-secret', cookie: 'tributary_session=t' },
          kafka: { sasl: { mechanism: 'scram-sha-256', username: 'svc', password: 'p2' } },
          user: 'svc',
        },
        'probe',
      ),
    );
    const text = JSON.stringify(entry);
    for (const secret of ['p1', 'k-secret', 'tributary_session=t', 'p2']) expect(text).not.toContain(secret);
    expect(entry.password).toBe('***');
    expect((entry.kafka as { sasl: { username: string; password: string } }).sasl).toEqual({
      mechanism: 'scram-sha-256',
      username: 'svc',
      password: '***',
    });
    expect(entry.user).toBe('svc');
  });

  it("takes the password out of URLs in an error's message and stack", () => {
    const entry = logged((l) =>
      l.error({ err: new Error('connect ECONNREFUSED amqp://bridge:hunter2@rabbit:5672/') }, 'failed'),
    );
    const err = entry.err as { message: string; stack: string };
    expect(err.message).toBe('connect ECONNREFUSED amqp://bridge:***@rabbit:5672/');
    expect(err.stack).not.toContain('hunter2');
    expect(redactUrls('see https://u:p@h/x and http://h2/y')).toBe('see https://u:***@h/x and http://h2/y');
  });
});

describe('quietHarmlessWarnings', () => {
  it('drops the negative-timeout warning kafkajs causes on Node 24 and prints any other as Node does', () => {
    const script =
      "const { quietHarmlessWarnings } = require('./platform/logger'); quietHarmlessWarnings();" +
      " process.emitWarning('-1796560827567 is a negative number.', 'TimeoutNegativeWarning'); process.emitWarning('a real one', 'DeprecationWarning');";
    const run = spawnSync(process.execPath, ['-r', require.resolve('tsx/cjs'), '-e', script], {
      cwd: path.join(__dirname, '..'),
      encoding: 'utf8',
    });
    expect(run.stderr).not.toContain('TimeoutNegativeWarning');
    expect(run.stderr).toMatch(/DeprecationWarning: a real one/);
  });
});
