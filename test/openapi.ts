import Ajv2020 from 'ajv/dist/2020';
import { openApiDocument } from '../dashboards/openapi';

type Operation = { responses: Record<string, { content?: Record<string, { schema?: object }> }> };
const doc = openApiDocument() as { paths: Record<string, Record<string, Operation>> };
const ajv = new Ajv2020({ strict: false, allErrors: true });

/**
 * Fetches `url` (a dashboard URL) and checks the answer against the OpenAPI document the API
 * serves: the status must be one the path declares, and the JSON body must match its schema.
 * Returns the body.
 */
export async function fetchChecked(
  url: string,
  template: string,
  init?: RequestInit,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, init);
  const body = (await res.json()) as unknown;
  const op = doc.paths[template]?.[(init?.method ?? 'get').toLowerCase()];
  if (!op) throw new Error(`${template} is not in the OpenAPI document`);
  const response = op.responses[String(res.status)];
  if (!response)
    throw new Error(
      `${template} answered ${res.status}, which the OpenAPI document does not declare: ${JSON.stringify(body).slice(0, 300)}`,
    );
  const schema = response.content?.['application/json']?.schema;
  if (schema && !ajv.validate(schema, body))
    throw new Error(
      `${template} ${res.status} does not match the OpenAPI document: ${ajv.errorsText()} in ${JSON.stringify(body).slice(0, 500)}`,
    );
  return { status: res.status, body };
}
