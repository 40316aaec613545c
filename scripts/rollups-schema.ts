// Writes docs/rollups.schema.json and docs/events.schema.json from the zod schemas declarations are checked with.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { declarationJsonSchema } from '../schemas/declarations/format';
import { eventTypeJsonSchema } from '../schemas/events/format';

writeFileSync(
  path.join(__dirname, '..', 'docs', 'rollups.schema.json'),
  `${JSON.stringify(declarationJsonSchema(), null, 2)}\n`,
);
writeFileSync(
  path.join(__dirname, '..', 'docs', 'events.schema.json'),
  `${JSON.stringify(eventTypeJsonSchema(), null, 2)}\n`,
);
