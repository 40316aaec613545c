import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Registry } from 'prom-client';
import type { Config } from '../../platform/config';
import type { Logger } from '../../platform/logger';
import { isRetriable } from '../../platform/errors';
import { opsRouter, type ReadinessCheck } from '../../platform/http/ops';
import type { ProduceBatcher, RecordReceipt } from '../batcher';
import type { EventEncoder } from '../encoder';
import { convertAll, convertKnowingPlan, refuseUnsendable, Rejection, toEventList } from '../contract';
import { keyId, keyMatches, presentedKey } from '../../platform/http/keys';
import type { EventLimits } from '../../schemas/limits';
import type { EventPlan } from '../../schemas/events/plan';
import { ingestMetrics } from './metrics';
import { CONFLICT, UnsettledSends } from './unsettled';
import { dedupKey, fingerprintOf } from '../../schemas/identity';

export interface IngestDeps {
  config: Config['ingest'];
  eventLimits: EventLimits;
  /** The declared event types (docs/events.md). */
  plan?: Pick<EventPlan, 'latest' | 'sync'>;
  writeKeys: string[] | null;
  encoder: EventEncoder;
  batcher: ProduceBatcher;
  logger: Logger;
  metrics: Registry;
  checks?: ReadinessCheck[];
  /** Says why not to accept events now (DATA_DIR nearly full), when ingest runs beside the local broker. */
  diskGuard?: { readonly low: string | undefined };
  /** READ_KEYS: /metrics needs one when set. */
  metricsKeys?: string[];
}

/**
 * `POST /v1/events`: one event or `{"events": [...]}`. Every event is validated against the
 * Avro schemas; any invalid event fails the whole request with every error listed and nothing
 * produced. Valid events are produced (acks=all) and answered 202 only once Kafka acknowledged
 * them, with a receipt per event.
 */
export function ingestApp(deps: IngestDeps): express.Express {
  const { config } = deps;
  const limits = { ...config, event: deps.eventLimits };
  const metrics = ingestMetrics(deps.metrics, () => deps.batcher.inflightBytes);
  const unsettled = new UnsettledSends();
  /** Bytes of request bodies being received or waiting for their answer (admission control). */
  let admitted = 0;
  /** The answer past INGEST_MAX_INFLIGHT_BYTES, whether the body was declared too large up front or grew so while it arrived. */
  const overBudget = () =>
    new Rejection(
      429,
      'backpressure',
      {
        error: 'too_many_requests',
        message: `more than ${config.maxInflightBytes} bytes are being received or wait for Kafka (INGEST_MAX_INFLIGHT_BYTES); retry shortly`,
      },
      1,
    );
  const app = express();
  app.disable('x-powered-by');
  app.use(opsRouter(deps.metrics, deps.checks ?? [], deps.metricsKeys ?? []));

  app.post(
    '/v1/events',
    (req: Request, res: Response, next: NextFunction) => {
      if (deps.writeKeys) {
        const key = presentedKey(req.headers.authorization);
        if (!key || !keyMatches(key, deps.writeKeys)) {
          return next(
            new Rejection(401, 'unauthorized', {
              error: 'unauthorized',
              message: 'a write key is required: Authorization: Bearer <key>, or HTTP Basic with the key as user name',
            }),
          );
        }
        res.locals.origin = keyId(key);
      }
      if (!req.is('application/json')) {
        return next(
          new Rejection(415, 'unsupported_media_type', {
            error: 'unsupported_media_type',
            message: `Content-Type must be application/json, got ${req.headers['content-type'] ?? 'none'}`,
          }),
        );
      }
      const low = deps.diskGuard?.low;
      if (low)
        return next(new Rejection(503, 'insufficient_storage', { error: 'insufficient_storage', message: low }, 5));
      // Admission counts bytes as they arrive: the declared length is reserved up front (refused
      // at once past the budget), a chunked body is counted chunk by chunk; both stay counted
      // until the request is answered, with what still waits for Kafka. A compressed body may
      // inflate to INGEST_MAX_BODY_BYTES: that much is reserved for it until it is decoded, then
      // its decoded size counts; its compressed length never does.
      const compressed = isCompressed(req.headers['content-encoding']);
      const declared = compressed ? config.maxBodyBytes : Number(req.headers['content-length'] ?? 0) || 0;
      if (admitted + deps.batcher.inflightBytes + declared > config.maxInflightBytes) {
        res.set('Connection', 'close');
        // Nothing of the body is kept. A body within the body limit is read and dropped first, then
        // answered: closing the connection while the client still uploads made some clients see a
        // reset instead of the 429 (security probe, 80 concurrent 1 MB posts).
        const wire = Number(req.headers['content-length'] ?? 0) || 0;
        if (wire > 0 && wire <= config.maxBodyBytes) {
          req.once('end', () => next(overBudget()));
          req.resume();
          return;
        }
        return next(overBudget());
      }
      let counted = declared;
      admitted += counted;
      let arrived = 0;
      res.locals.admit = (decoded: number) => {
        admitted += decoded - counted;
        counted = decoded;
      };
      if (!compressed)
        req.on('data', (chunk: Buffer) => {
          arrived += chunk.length;
          if (arrived <= counted) return;
          admitted += arrived - counted;
          counted = arrived;
          if (admitted + deps.batcher.inflightBytes > config.maxInflightBytes) res.locals.overBudget = true;
        });
      res.once('close', () => {
        admitted -= counted;
        counted = 0;
      });
      next();
    },
    // The limit counts decoded bytes (body-parser inflates gzip, deflate and br first); verify records how many.
    express.json({
      limit: config.maxBodyBytes,
      strict: false,
      verify: (_req, res, body) => {
        const locals = (res as Response).locals;
        locals.bodyBytes = body.length;
        (locals.admit as ((decoded: number) => void) | undefined)?.(body.length);
      },
    }),
    async (req: Request, res: Response) => {
      if (res.locals.overBudget) throw overBudget();
      const receivedAt = Date.now();
      const events = toEventList(req.body, limits);
      const origin = (res.locals.origin as string | undefined) ?? null;
      const convert = () =>
        convertAll(events, limits, {
          newEventId: () => randomUUID(),
          receivedAt,
          origin,
          bodyBytes: Number(res.locals.bodyBytes ?? Infinity),
          plan: deps.plan,
        });
      const converted = await convertKnowingPlan(convert, deps.plan);
      const records = converted.map((e) => deps.encoder.encode(e));
      refuseUnsendable(records, deps.batcher.limits);
      const eventIds = converted.map((c) => c.record.eventId);
      const keys = converted.map((c) => dedupKey(c.record));
      const fingerprints = converted.map((c) => fingerprintOf(c));
      // A retry of events whose send is still in flight, or was acknowledged after its request
      // was answered 503, waits for or reuses that send instead of producing them again.
      const found = keys.map((k, i) => unsettled.find(k, fingerprints[i]!));
      const conflicts = found.flatMap((f, index) =>
        f === CONFLICT
          ? [
              {
                index,
                path: 'eventId',
                message: `${JSON.stringify(eventIds[index])} was just sent with other content; an eventId names one event`,
              },
            ]
          : [],
      );
      if (conflicts.length > 0)
        throw new Rejection(409, 'conflicting_event_id', {
          error: 'conflict',
          message: `${conflicts.length} event(s) reuse an eventId for other content; nothing was accepted`,
          errors: conflicts,
        });
      const earlier = found as Array<Promise<RecordReceipt> | RecordReceipt | undefined>;
      const repeats = earlier.some((e) => e !== undefined);
      const fresh = repeats ? earlier.flatMap((e, i) => (e === undefined ? [i] : [])) : undefined;
      const sent = deps.batcher.submit(fresh ? fresh.map((i) => records[i]!) : records);
      const tracking = unsettled.track(
        fresh ? fresh.map((i) => keys[i]!) : keys,
        fresh ? fresh.map((i) => fingerprints[i]!) : fingerprints,
        sent,
      );
      const started = process.hrtime.bigint();
      let receipts: RecordReceipt[];
      try {
        receipts = await withTimeout(fresh ? merged(sent, earlier, fresh) : sent, config.produceTimeoutMs);
      } catch (err) {
        tracking.gaveUp();
        deps.logger.warn({ err: (err as Error).message, retriable: isRetriable(err) }, 'ingest.produce.failed');
        // Kafka may still take them after the timeout: a retry with these ids is answered from that send.
        throw new Rejection(
          503,
          'kafka_unavailable',
          {
            error: 'unavailable',
            message: 'Kafka did not acknowledge the events; retry with the same eventIds',
            eventIds,
          },
          2,
        );
      }
      if (fresh) metrics.joined.inc(records.length - fresh.length);
      metrics.produceLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
      for (const r of records) metrics.accepted.inc({ topic: r.topic });
      res.status(202).json({
        accepted: receipts.length,
        receipts: receipts.map((r, i) => ({
          eventId: converted[i]!.record.eventId,
          topic: r.topic,
          partition: r.partition,
          offset: Number(r.offset),
        })),
      });
    },
  );

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not_found', message: 'POST /v1/events' });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    let rejection: Rejection;
    const e = err as { type?: string; message?: string };
    if (err instanceof Rejection) rejection = err;
    else if (e.type === 'entity.parse.failed')
      rejection = new Rejection(400, 'invalid_json', {
        error: 'invalid_json',
        message: `body is not JSON: ${e.message}`,
      });
    else if (e.type === 'entity.too.large')
      rejection = new Rejection(413, 'body_too_large', {
        error: 'payload_too_large',
        message: `body is larger than ${config.maxBodyBytes} bytes (decoded)`,
      });
    else if (e.type === 'charset.unsupported')
      rejection = new Rejection(415, 'unsupported_charset', {
        error: 'unsupported_media_type',
        message: `${e.message}: send UTF-8 JSON`,
      });
    else if (e.type === 'encoding.unsupported')
      rejection = new Rejection(415, 'unsupported_encoding', {
        error: 'unsupported_media_type',
        message: `${e.message}: Content-Encoding may be gzip, deflate, br or identity`,
      });
    else if (isClientError(err))
      rejection = new Rejection(400, 'invalid_body', {
        error: 'invalid_body',
        message: `the body could not be read: ${e.message ?? 'malformed'}`,
      });
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

/**
 * A body-parser error about the request itself (bad compressed data, an aborted upload), which
 * carries a 4xx status; anything else is ours and answered 500.
 */
function isClientError(err: unknown): boolean {
  const status =
    (err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
  const zlib = typeof (err as { code?: unknown }).code === 'string' && /^Z_/.test((err as { code: string }).code);
  return (typeof status === 'number' && status >= 400 && status < 500) || zlib;
}

/** A Content-Encoding other than identity: the body inflates when decoded. */
function isCompressed(encoding: string | undefined): boolean {
  return encoding !== undefined && encoding.trim().toLowerCase() !== 'identity' && encoding.trim() !== '';
}

/** Receipts in request order: the fresh send's for the events at `fresh`, the earlier sends' for the rest. */
async function merged(
  sent: Promise<RecordReceipt[]>,
  earlier: Array<Promise<RecordReceipt> | RecordReceipt | undefined>,
  fresh: number[],
): Promise<RecordReceipt[]> {
  const [freshReceipts, all] = await Promise.all([sent, Promise.all(earlier.map((e) => Promise.resolve(e)))]);
  fresh.forEach((i, k) => {
    all[i] = freshReceipts[k];
  });
  return all as RecordReceipt[];
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no acknowledgement from Kafka within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
