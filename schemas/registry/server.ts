import express, { type NextFunction, type Request, type Response } from 'express';
import type { Registry } from 'prom-client';
import { opsRouter, type ReadinessCheck } from '../../platform/http/ops';
import type { RegistryUser } from '../config';
import { registryAccess } from './access';
import { RegistryError, schemaTooLarge } from './errors';
import type { SchemaRegistryService } from './registry';

const CONTENT_TYPES = [
  'application/vnd.schemaregistry.v1+json',
  'application/vnd.schemaregistry+json',
  'application/json',
];
const RESPONSE_TYPE = 'application/vnd.schemaregistry.v1+json';

/**
 * The Confluent Schema Registry REST API (the subset clients use), served by express.
 * @see https://docs.confluent.io/platform/current/schema-registry/develop/api.html
 */
export interface RegistryAccessOptions {
  users: RegistryUser[];
  anonymousReads: boolean;
  maxBodyBytes: number;
}

export function registryApp(
  registry: SchemaRegistryService,
  metrics: Registry,
  checks: ReadinessCheck[] = [],
  access: RegistryAccessOptions = { users: [], anonymousReads: false, maxBodyBytes: 1024 * 1024 },
): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Credentials first: nothing of an unauthenticated request is parsed (its /metrics included).
  app.use(registryAccess(access.users, access.anonymousReads, (subject) => registry.state.configs.has(subject)));
  app.use(opsRouter(metrics, checks));
  app.use((req: Request, _res: Response, next: NextFunction) => {
    const type = req.headers['content-type'];
    if (
      (req.method === 'POST' || req.method === 'PUT') &&
      type !== undefined &&
      req.headers['content-length'] !== '0'
    ) {
      const base = type.split(';')[0]!.trim().toLowerCase();
      if (!CONTENT_TYPES.includes(base)) {
        return next(
          new RegistryError(415, 415, `Unsupported content type ${base}: use one of ${CONTENT_TYPES.join(', ')}`),
        );
      }
    }
    next();
  });
  app.use(express.json({ type: CONTENT_TYPES, limit: access.maxBodyBytes, strict: false }));

  const send = (res: Response, body: unknown, status = 200) =>
    res.status(status).type(RESPONSE_TYPE).send(JSON.stringify(body));
  const flag = (req: Request, name: string) => req.query[name] === 'true';
  const body = (req: Request) =>
    (typeof req.body === 'object' && req.body !== null ? req.body : {}) as {
      schema?: unknown;
      schemaType?: unknown;
      compatibility?: unknown;
      mode?: unknown;
    };
  const id = (req: Request) => {
    const n = Number(req.params.id);
    if (!Number.isInteger(n) || n < 0) throw new RegistryError(404, 40403, 'Schema not found');
    return n;
  };

  app.get('/', (_req, res) => send(res, {}));
  app.get('/schemas/types', (_req, res) => send(res, ['AVRO']));
  app.get('/schemas/ids/:id', (req, res) => send(res, { schema: registry.schemaById(id(req)) }));
  app.get('/schemas/ids/:id/schema', (req, res) => send(res, JSON.parse(registry.schemaById(id(req)))));
  app.get('/schemas/ids/:id/versions', (req, res) => send(res, registry.subjectsOfId(id(req))));
  app.get('/subjects', (req, res) => send(res, registry.subjects(flag(req, 'deleted'))));
  app.get('/subjects/:subject/versions', (req, res) =>
    send(res, registry.versions(req.params.subject as string, flag(req, 'deleted'))),
  );
  app.get('/subjects/:subject/versions/:version', (req, res) =>
    send(res, registry.version(req.params.subject as string, req.params.version as string, flag(req, 'deleted'))),
  );
  app.get('/subjects/:subject/versions/:version/schema', (req, res) =>
    send(
      res,
      JSON.parse(
        registry.version(req.params.subject as string, req.params.version as string, flag(req, 'deleted')).schema,
      ),
    ),
  );
  app.post('/subjects/:subject/versions', async (req, res) => {
    const b = body(req);
    send(res, await registry.register(req.params.subject as string, b.schema, b.schemaType));
  });
  app.post('/subjects/:subject', (req, res) => {
    const b = body(req);
    send(res, registry.lookup(req.params.subject as string, b.schema, b.schemaType, flag(req, 'deleted')));
  });
  app.delete('/subjects/:subject', async (req, res) =>
    send(res, await registry.deleteSubject(req.params.subject as string, flag(req, 'permanent'))),
  );
  app.delete('/subjects/:subject/versions/:version', async (req, res) =>
    send(
      res,
      await registry.deleteVersion(req.params.subject as string, req.params.version as string, flag(req, 'permanent')),
    ),
  );
  const compatibility = async (req: Request, res: Response) => {
    const b = body(req);
    const result = await registry.checkCompatibility(
      req.params.subject as string,
      req.params.version as string | undefined,
      b.schema,
      b.schemaType,
    );
    send(res, flag(req, 'verbose') ? result : { is_compatible: result.is_compatible });
  };
  app.post('/compatibility/subjects/:subject/versions/:version', compatibility);
  app.post('/compatibility/subjects/:subject/versions', compatibility);
  app.get('/config', (_req, res) => send(res, registry.config(null)));
  app.put('/config', async (req, res) => send(res, await registry.setConfig(null, body(req).compatibility)));
  app.get('/config/:subject', (req, res) =>
    send(res, registry.config(req.params.subject as string, flag(req, 'defaultToGlobal'))),
  );
  app.put('/config/:subject', async (req, res) =>
    send(res, await registry.setConfig(req.params.subject as string, body(req).compatibility)),
  );
  app.delete('/config/:subject', async (req, res) =>
    send(res, await registry.deleteConfig(req.params.subject as string)),
  );
  app.get('/mode', (_req, res) => send(res, registry.mode(null)));
  app.put('/mode', async (req, res) => send(res, await registry.setMode(null, body(req).mode)));
  app.get('/mode/:subject', (req, res) =>
    send(res, registry.mode(req.params.subject as string, flag(req, 'defaultToGlobal'))),
  );
  app.put('/mode/:subject', async (req, res) =>
    send(res, await registry.setMode(req.params.subject as string, body(req).mode)),
  );
  app.delete('/mode/:subject', async (req, res) => send(res, await registry.deleteMode(req.params.subject as string)));

  app.use((_req: Request, res: Response) => send(res, { error_code: 404, message: 'HTTP 404 Not Found' }, 404));
  // Every failure becomes Confluent's error body; the process never crashes on a request.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof RegistryError)
      return send(res, { error_code: err.registryCode, message: err.message }, err.status);
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.parse.failed')
      return send(res, { error_code: 400, message: `Unrecognized JSON: ${e.message}` }, 400);
    if (e.type === 'entity.too.large') {
      const tooLarge = schemaTooLarge(
        `Schema too large: the body exceeds ${access.maxBodyBytes} bytes (REGISTRY_MAX_BODY_BYTES)`,
      );
      return send(res, { error_code: tooLarge.registryCode, message: tooLarge.message }, tooLarge.status);
    }
    return send(
      res,
      { error_code: 50001, message: `Error in the backend data store: ${e.message ?? String(err)}` },
      500,
    );
  });
  return app;
}
