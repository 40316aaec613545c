// Writes docs/rollups.schema.json from the zod schema declarations are checked with.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { declarationJsonSchema } from '../schemas/declarations/format';

writeFileSync(path.join(__dirname, '..', 'docs', 'rollups.schema.json'), `${JSON.stringify(declarationJsonSchema(), null, 2)}\n`);
