import { parentPort } from 'node:worker_threads';
import avro from 'avsc';
import { compatibilityErrors } from './avro';
import type { CompatibilityLevel } from './errors';

/**
 * The worker thread of CompatibilityChecker (compatibility.ts): resolves a candidate schema
 * against existing versions off the registry's event loop. Each message is one check.
 */
export interface CheckRequest {
  id: number;
  level: CompatibilityLevel;
  candidate: string;
  existing: Array<{ version: number; schema: string }>;
}
export type CheckAnswer = { id: number; errors: string[] } | { id: number; failure: string };

const parse = (text: string) => avro.Type.forSchema(JSON.parse(text) as avro.Schema);

parentPort?.on('message', ({ id, level, candidate, existing }: CheckRequest) => {
  let answer: CheckAnswer;
  try {
    answer = {
      id,
      errors: compatibilityErrors(
        level,
        parse(candidate),
        existing.map((v) => ({ version: v.version, type: parse(v.schema) })),
      ),
    };
  } catch (err) {
    answer = { id, failure: (err as Error).message };
  }
  parentPort!.postMessage(answer);
});
