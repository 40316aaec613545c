import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDeclarationText } from './files';
import type { RollupDeclaration } from './format';
import type { VersionState } from './book';
import { versionId } from './row';
import { TributaryError } from '../../platform/errors';

/** rollups/builtin.yaml, beside schemas/ in the source and in dist/ alike. */
const FILE = path.join(__dirname, '..', '..', 'rollups', 'builtin.yaml');

function load(): RollupDeclaration[] {
  const parsed = parseDeclarationText(readFileSync(FILE, 'utf8'), FILE, true);
  if (!parsed.ok)
    throw new TributaryError(
      'internal',
      `the built-in rollup declarations are invalid:\n${parsed.problems.join('\n')}`,
    );
  return parsed.declarations.map((d) => d.declaration);
}

/**
 * The built-in rollups (rollups/builtin.yaml): declarations every pipeline computes from its
 * first event on, as version 1, without an apply, a handover or a backfill. Their names are
 * reserved: `tributary rollups apply` and `drop` refuse them.
 */
export const BUILTIN_ROLLUPS: readonly RollupDeclaration[] = load();
export const BUILTIN_NAMES: ReadonlySet<string> = new Set(BUILTIN_ROLLUPS.map((d) => d.name));

/** The built-in declaration named `name` (they are known by name in the dashboard queries). */
export function builtin(name: 'orders' | 'products' | 'users' | 'active_users'): RollupDeclaration {
  return BUILTIN_ROLLUPS.find((d) => d.name === name)!;
}

/** The built-in rollups as the versions a declarations book holds: complete from the start. */
export function builtinStates(): VersionState[] {
  return BUILTIN_ROLLUPS.map((declaration) => ({
    id: versionId(declaration.name, 1),
    record: {
      name: declaration.name,
      version: 1,
      declaration,
      appliedAt: 0,
      topic: '',
      segmentSize: 0,
      from: {},
      handover: {},
      end: {},
      fromTime: null,
      builtin: true,
    },
    complete: { at: 0 },
  }));
}
