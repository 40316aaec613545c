import type { Logger } from '../../platform/logger';
import { sleep } from '../../platform/retry';
import type { TributaryProducer } from '../tributary-producer';
import type { QueuePublisher } from './queues';
import type { GroundTruth } from './ground-truth';
import { DemoShop, type DeclaredProperties, type DemoEvent } from './shop';

export type DemoTarget =
  | { via: 'http'; url: string; writeKey: string | undefined }
  | { via: 'kafka'; producer: TributaryProducer }
  | { via: 'rabbitmq' | 'sqs'; publisher: QueuePublisher };

export interface DemoOptions {
  target: DemoTarget;
  /** Events per second. */
  rate: number;
  /** Seconds; 0 runs until `signal` aborts. */
  durationS: number;
  seed?: number;
  truth: GroundTruth;
  logger: Logger;
  signal?: AbortSignal;
  batchSize?: number;
  /** Attempts per batch on 429/503 before giving up (its events then count as not sent). */
  maxAttempts?: number;
  /** The example declared types the pipeline has (DemoShop): sent too when given. */
  declared?: DeclaredProperties;
}

export interface DemoResult {
  sent: number;
  accepted: number;
  retried: number;
  /**
   * Sends by outcome: the HTTP status (`202`, `503`…) or `unreachable` (no answer at all); an
   * acknowledged send to Kafka or a queue counts as `202`, a failed one as `unreachable`.
   */
  answers: Record<string, number>;
}

const TICK_MS = 100;

/**
 * Drives the demo shop at `rate` events/s into the pipeline, recording every acknowledged event
 * in the ground truth. A 429/503 (or a Kafka error) is retried with the same events, eventIds
 * included, so a retry can never count twice.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const shop = new DemoShop(options.seed ?? 42, options.declared ? { declared: options.declared } : {});
  const result: DemoResult = { sent: 0, accepted: 0, retried: 0, answers: {} };
  const started = Date.now();
  const batchSize = options.batchSize ?? 100;
  let due = 0;
  const inflight = new Set<Promise<void>>();
  while (!options.signal?.aborted && (options.durationS === 0 || Date.now() - started < options.durationS * 1000)) {
    due += (options.rate * TICK_MS) / 1000;
    const n = Math.floor(due);
    due -= n;
    const events = shop.next(n);
    for (let i = 0; i < events.length; i += batchSize) {
      const p = deliver(events.slice(i, i + batchSize), options, result).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    result.sent += events.length;
    // Bound the work in flight: wait for sends rather than queue without limit.
    while (inflight.size > 32) await Promise.race(inflight);
    await sleep(TICK_MS, options.signal);
  }
  await Promise.all(inflight);
  options.logger.info({ ...result, seconds: (Date.now() - started) / 1000 }, 'demo.done');
  return result;
}

async function deliver(events: DemoEvent[], options: DemoOptions, result: DemoResult): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await send(events, options.target);
      for (const e of events) options.truth.add(e);
      result.accepted += events.length;
      result.answers['202'] = (result.answers['202'] ?? 0) + 1;
      return;
    } catch (err) {
      const answer = String((err as { status?: number }).status ?? 'unreachable');
      result.answers[answer] = (result.answers[answer] ?? 0) + 1;
      const retryAfterS = (err as { retryAfter?: number }).retryAfter;
      if (retryAfterS === undefined || attempt >= (options.maxAttempts ?? 20) || options.signal?.aborted) {
        options.logger.error({ err: (err as Error).message, events: events.length }, 'demo.send.failed');
        return;
      }
      result.retried += 1;
      await sleep(retryAfterS * 1000);
    }
  }
}

async function send(events: DemoEvent[], target: DemoTarget): Promise<void> {
  if ('publisher' in target) {
    try {
      await target.publisher.publish(events.map(({ kind: _k, ...e }) => e));
    } catch (err) {
      throw Object.assign(new Error(`${target.publisher.description}: ${(err as Error).message}`), {
        retryAfter: 1,
        cause: err,
      });
    }
    return;
  }
  if (target.via === 'kafka') {
    const users = events.filter((e) => e.kind === 'user').map(({ kind: _k, ...e }) => e);
    const orders = events.filter((e) => e.kind === 'order').map(({ kind: _k, ...e }) => e);
    try {
      await Promise.all([
        users.length ? target.producer.sendUserEvents(users as never) : undefined,
        orders.length ? target.producer.sendOrderEvents(orders as never) : undefined,
      ]);
    } catch (err) {
      if ((err as Error).name === 'EventValidationError') throw err;
      throw Object.assign(err as Error, { retryAfter: 1 });
    }
    return;
  }
  let res: Response;
  try {
    res = await fetch(`${target.url}/v1/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(target.writeKey ? { authorization: `Bearer ${target.writeKey}` } : {}),
      },
      body: JSON.stringify({ events: events.map(({ kind: _k, ...e }) => e) }),
    });
  } catch (err) {
    throw Object.assign(new Error(`ingest unreachable: ${(err as Error).message}`), { retryAfter: 1, cause: err });
  }
  if (res.status === 202) {
    await res.arrayBuffer();
    return;
  }
  const body = await res.text();
  const retryAfter = res.status === 429 || res.status === 503 ? Number(res.headers.get('retry-after') ?? 1) : undefined;
  throw Object.assign(new Error(`ingest answered ${res.status}: ${body.slice(0, 300)}`), {
    retryAfter,
    status: res.status,
  });
}
