import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Registry } from 'prom-client';
import type { Config } from '../../platform/config';
import type { Logger } from '../../platform/logger';
import { isRetriable } from '../../platform/errors';
import { opsRouter, type ReadinessCheck } from '../../platform/http/ops';
import type { ProduceBatcher, RecordReceipt } from '../batcher';
import type { EventEncoder } from '../encoder';
import { convertAll, Rejection, toEventList } from '../contract';
import { keyMatches, presentedKey } from '../../platform/http/keys';
import { ingestMetrics } from './metrics';
import { UnsettledSends } from './unsettled';

export interface IngestDeps {
  config: Config['ingest'];
  writeKeys: string[] | null;
  encoder: EventEncoder;
  batcher: ProduceBatcher;
  logger: Logger;
  metrics: Registry;
  checks?: ReadinessCheck[];
}

/**
 * `POST /v1/events`: one event or `{"events": [...]}`. Every event is validated against the
 * Avro schemas; any invalid event fails the whole request with every error listed and nothing
 * produced. Valid events are produced (acks=all) and answered 202 only once Kafka acknowledged
 * them, with a receipt per event.
 */
export function ingestApp(deps: IngestDeps): express.Express {
  const { config } = deps;
  const metrics = ingestMetrics(deps.metrics, () => deps.batcher.inflightBytes);
  const unsettled = new UnsettledSends();
  const app = express();
  app.disable('x-powered-by');
  app.use(opsRouter(deps.metrics, deps.checks ?? []));

  app.post('/v1/events',
    (req: Request, _res: Response, next: NextFunction) => {
      if (deps.writeKeys) {
        const key = presentedKey(req.headers.authorization);
        if (!key || !keyMatches(key, deps.writeKeys)) {
          return next(new Rejection(401, 'unauthorized', { error: 'unauthorized', message: 'a write key is required: Authorization: Bearer <key>, or HTTP Basic with the key as user name' }));
        }
      }
      if (!req.is('application/json')) {
        return next(new Rejection(415, 'unsupported_media_type', { error: 'unsupported_media_type', message: `Content-Type must be application/json, got ${req.headers['content-type'] ?? 'none'}` }));
      }
      if (deps.batcher.inflightBytes > config.maxInflightBytes) {
        return next(new Rejection(429, 'backpressure', { error: 'too_many_requests', message: 'too many bytes waiting for Kafka; retry shortly' }, 1));
      }
      next();
    },
    express.json({ limit: config.maxBodyBytes, strict: false }),
    async (req: Request, res: Response) => {
      const receivedAt = Date.now();
      const events = toEventList(req.body, config);
      // No event can be larger than the whole body: measure events only when the body could hold a too-large one.
      const measure = Number(req.headers['content-length'] ?? Infinity) > config.maxEventBytes;
      const converted = convertAll(events, config, { newEventId: () => randomUUID(), receivedAt, measure });
      const records = converted.map((e) => deps.encoder.encode(e));
      const eventIds = converted.map((c) => c.record.eventId);
      // A retry of events whose send is still in flight, or was acknowledged after its request
      // was answered 503, waits for or reuses that send instead of producing them again.
      const earlier = eventIds.map((id) => unsettled.find(id));
      const repeats = earlier.some((e) => e !== undefined);
      const fresh = repeats ? earlier.flatMap((e, i) => (e === undefined ? [i] : [])) : undefined;
      const sent = deps.batcher.submit(fresh ? fresh.map((i) => records[i]!) : records);
      const tracking = unsettled.track(fresh ? fresh.map((i) => eventIds[i]!) : eventIds, sent);
      const started = process.hrtime.bigint();
      let receipts: RecordReceipt[];
      try {
        receipts = await withTimeout(fresh ? merged(sent, earlier, fresh) : sent, config.produceTimeoutMs);
      } catch (err) {
        tracking.gaveUp();
        deps.logger.warn({ err: (err as Error).message, retriable: isRetriable(err) }, 'ingest.produce.failed');
        // Kafka may still take them after the timeout: a retry with these ids is answered from that send.
        throw new Rejection(503, 'kafka_unavailable', {
          error: 'unavailable', message: 'Kafka did not acknowledge the events; retry with the same eventIds', eventIds,
        }, 2);
      }
      if (fresh) metrics.joined.inc(records.length - fresh.length);
      metrics.produceLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
      for (const r of records) metrics.accepted.inc({ topic: r.topic });
      res.status(202).json({
        accepted: receipts.length,
        receipts: receipts.map((r, i) => ({ eventId: converted[i]!.record.eventId, topic: r.topic, partition: r.partition, offset: Number(r.offset) })),
      });
    });

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not_found', message: 'POST /v1/events' });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    let rejection: Rejection;
    const e = err as { type?: string; message?: string };
    if (err instanceof Rejection) rejection = err;
    else if (e.type === 'entity.parse.failed') rejection = new Rejection(400, 'invalid_json', { error: 'invalid_json', message: `body is not JSON: ${e.message}` });
    else if (e.type === 'entity.too.large') rejection = new Rejection(413, 'body_too_large', { error: 'payload_too_large', message: `body is larger than ${config.maxBodyBytes} bytes` });
    else {
      deps.logger.error({ err }, 'ingest.error');
      rejection = new Rejection(500, 'internal', { error: 'internal', message: 'internal error' });
    }
    metrics.rejected.inc({ reason: rejection.reason });
    if (rejection.retryAfter) res.set('Retry-After', String(rejection.retryAfter));
    if (rejection.status === 401) res.set('WWW-Authenticate', 'Bearer realm="tributary"');
    res.status(rejection.status).json(rejection.body);
  });
  return app;
}

/** Receipts in request order: the fresh send's for the events at `fresh`, the earlier sends' for the rest. */
async function merged(sent: Promise<RecordReceipt[]>, earlier: Array<Promise<RecordReceipt> | RecordReceipt | undefined>, fresh: number[]): Promise<RecordReceipt[]> {
  const [freshReceipts, all] = await Promise.all([sent, Promise.all(earlier)]);
  fresh.forEach((i, k) => { all[i] = freshReceipts[k]; });
  return all as RecordReceipt[];
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`no acknowledgement from Kafka within ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}
