import Ajv2020 from 'ajv/dist/2020';
import { openApiDocument, RESPONSES } from './openapi';
import { QUERIES } from './params';

type Doc = {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: Array<{ name: string; in: string }>;
        responses: Record<string, { content?: Record<string, { schema?: object }> }>;
      }
    >
  >;
};

describe('the OpenAPI document', () => {
  const doc = openApiDocument() as Doc;

  it('lists the query parameters the API checks, from the same schemas', () => {
    const query = (path: string) =>
      doc.paths[path]!.get!.parameters!.filter((p) => p.in === 'query').map((p) => p.name);
    expect(query('/api/timeseries')).toEqual(Object.keys(QUERIES.timeseries.shape));
    expect(query('/api/top-products')).toEqual(Object.keys(QUERIES.topProducts.shape));
    expect(query('/api/rollups/{name}')).toEqual(Object.keys(QUERIES.rollup.shape));
  });

  it('has response schemas that accept what the API answers and refuse what it never does', () => {
    const ajv = new Ajv2020({ strict: false });
    const schema = doc.paths['/api/timeseries']!.get!.responses['200']!.content!['application/json']!.schema!;
    const ok = {
      metric: 'orders',
      interval: '1m',
      groupBy: null,
      from: 'a',
      to: 'b',
      points: [{ t: 'x', group: '', value: 3 }],
      truncated: false,
    };
    expect(ajv.validate(schema, ok)).toBe(true);
    expect(RESPONSES.timeseries.safeParse(ok).success).toBe(true);
    expect(ajv.validate(schema, { ...ok, points: [{ t: 'x', group: '', value: '3' }] })).toBe(false);
    expect(ajv.validate(schema, { ...ok, truncated: undefined })).toBe(false);
  });
});
