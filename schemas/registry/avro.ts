import avro from 'avsc';
import { COMPATIBILITY_LEVELS, type CompatibilityLevel, invalidSchema } from './errors';

/**
 * A schema's canonical text: the JSON with object keys sorted and no whitespace. Key order and
 * formatting are noise; field order, names, docs, defaults and logical types are kept, since
 * they mean something to readers.
 */
export function canonicalSchema(text: string): { canonical: string; type: avro.Type } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalidSchema(`not JSON: ${(err as Error).message}`);
  }
  let type: avro.Type;
  try {
    type = avro.Type.forSchema(parsed as avro.Schema);
  } catch (err) {
    throw invalidSchema((err as Error).message);
  }
  return { canonical: stableStringify(parsed), type };
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Whether a reader of schema `reader` can read data written with `writer` (Avro schema resolution). */
export function canRead(reader: avro.Type, writer: avro.Type): string | null {
  try {
    reader.createResolver(writer);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Checks `candidate` against the existing versions (oldest first) under `level`; returns the
 * reasons it is incompatible, empty when it is compatible.
 */
export function compatibilityErrors(
  level: CompatibilityLevel,
  candidate: avro.Type,
  existing: Array<{ version: number; type: avro.Type }>,
): string[] {
  if (level === 'NONE' || existing.length === 0) return [];
  const against = level.endsWith('_TRANSITIVE') ? existing : existing.slice(-1);
  const backward = level.startsWith('BACKWARD') || level.startsWith('FULL');
  const forward = level.startsWith('FORWARD') || level.startsWith('FULL');
  const errors: string[] = [];
  for (const { version, type } of against) {
    if (backward) {
      const e = canRead(candidate, type);
      if (e) errors.push(`the new schema cannot read data written with version ${version} (BACKWARD): ${e}`);
    }
    if (forward) {
      const e = canRead(type, candidate);
      if (e) errors.push(`version ${version} cannot read data written with the new schema (FORWARD): ${e}`);
    }
  }
  return errors;
}

export function isCompatibilityLevel(v: unknown): v is CompatibilityLevel {
  return typeof v === 'string' && (COMPATIBILITY_LEVELS as readonly string[]).includes(v);
}
