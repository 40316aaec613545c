import avro from 'avsc';
import { COMPATIBILITY_LEVELS, type CompatibilityLevel, invalidSchema } from './errors';

/**
 * How complex a schema the registry takes. Resolving one schema against another walks unions
 * pairwise, so a union of thousands of named types makes one compatibility check take minutes;
 * these bound it (and the checks run off the event loop, with a time budget: compatibility.ts).
 */
export interface SchemaComplexity {
  /** Branches of one union. */
  maxUnionBranches: number;
  /** Named types (records, enums, fixed) in one schema. */
  maxNamedTypes: number;
}

export const DEFAULT_SCHEMA_COMPLEXITY: SchemaComplexity = { maxUnionBranches: 256, maxNamedTypes: 2000 };
/** Nesting of types within types; deeper is refused before it can exhaust a stack. */
const MAX_SCHEMA_DEPTH = 64;

/** Refuses (42201, naming the bound) a parsed schema over the complexity bounds. */
function checkComplexity(schema: unknown, limits: SchemaComplexity): void {
  let named = 0;
  const walk = (node: unknown, depth: number): void => {
    if (depth > MAX_SCHEMA_DEPTH) throw invalidSchema(`types nested deeper than ${MAX_SCHEMA_DEPTH} levels`);
    if (Array.isArray(node)) {
      if (node.length > limits.maxUnionBranches)
        throw invalidSchema(
          `a union of ${node.length} branches; this registry takes at most ${limits.maxUnionBranches} (REGISTRY_MAX_UNION_BRANCHES)`,
        );
      for (const branch of node) walk(branch, depth + 1);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const t = node as { type?: unknown; fields?: unknown; items?: unknown; values?: unknown };
    if (t.type === 'record' || t.type === 'error' || t.type === 'enum' || t.type === 'fixed') {
      if (++named > limits.maxNamedTypes)
        throw invalidSchema(`more than ${limits.maxNamedTypes} named types in one schema (REGISTRY_MAX_NAMED_TYPES)`);
    }
    if (Array.isArray(t.fields)) for (const f of t.fields) walk((f as { type?: unknown } | null)?.type, depth + 1);
    if (typeof t.type === 'object') walk(t.type, depth + 1);
    if (t.items !== undefined) walk(t.items, depth + 1);
    if (t.values !== undefined) walk(t.values, depth + 1);
  };
  walk(schema, 0);
}

/**
 * A schema's canonical text: the JSON with object keys sorted and no whitespace. Key order and
 * formatting are noise; field order, names, docs, defaults and logical types are kept, since
 * they mean something to readers. Refuses a schema over the complexity bounds.
 */
export function canonicalSchema(
  text: string,
  limits: SchemaComplexity = DEFAULT_SCHEMA_COMPLEXITY,
): { canonical: string; type: avro.Type } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalidSchema(`not JSON: ${(err as Error).message}`);
  }
  checkComplexity(parsed, limits);
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
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`);
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
