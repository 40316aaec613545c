import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isMap, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import { checkDeclaration, type RollupDeclaration } from './format';
import { checkEventType, type EventTypeDeclaration } from '../events/format';

/** Declarations read from files, or every problem found, each one line: `file:line: field: what`. */
export type LoadResult =
  { ok: true; declarations: Array<RollupDeclaration & { file: string }> } | { ok: false; problems: string[] };

const EXTENSIONS = ['.yaml', '.yml', '.json'];

/**
 * Reads declaration files: a file, or every .yaml/.yml/.json file of a directory (not its
 * subdirectories), in name order. A file holds one declaration, a list of them, or several YAML
 * documents. JSON is read by the YAML parser too (JSON is YAML), so both get line numbers.
 * Nothing is returned unless everything is valid, no two declarations share a name and none
 * takes a `reserved` one.
 */
export function loadDeclarations(
  target: string,
  reserved: ReadonlySet<string> = new Set(),
  eventTypes?: (name: string) => EventTypeDeclaration | undefined,
): LoadResult {
  const loaded = loadFiles(
    target,
    (value) => checkDeclaration(value, false, eventTypes),
    'a declaration is a mapping (name:, source:, measures:…)',
  );
  if (!loaded.ok) return loaded;
  const problems: string[] = [];
  for (const { declaration, where } of loaded.found) {
    if (reserved.has(declaration.name))
      problems.push(
        `${where}: name: ${declaration.name} is a built-in rollup (rollups/builtin.yaml); give yours another name`,
      );
  }
  return problems.length > 0
    ? { ok: false, problems }
    : { ok: true, declarations: loaded.found.map((f) => ({ ...f.declaration, file: f.file })) };
}

/** Declared event types read from files (docs/events.md), or every problem, one line each. */
export function loadEventTypes(
  target: string,
): { ok: true; types: Array<EventTypeDeclaration & { file: string }> } | { ok: false; problems: string[] } {
  const loaded = loadFiles(target, checkEventType, 'an event type is a mapping (name:, properties:)');
  return loaded.ok ? { ok: true, types: loaded.found.map((f) => ({ ...f.declaration, file: f.file })) } : loaded;
}

type Check<T> = (
  value: unknown,
) => { ok: true; declaration: T } | { ok: false; issues: Array<{ path: Array<string | number>; message: string }> };

/**
 * Reads declaration files of any kind (rollups, event types): a file, or every .yaml/.yml/.json
 * file of a directory (not its subdirectories), in name order; each declaration checked by
 * `check`; no two may share a name. Every problem, one line each (`file:line: field: what`).
 */
export function loadFiles<T extends { name: string }>(
  target: string,
  check: Check<T>,
  mappingHint: string,
): { ok: true; found: Array<{ declaration: T; file: string; where: string }> } | { ok: false; problems: string[] } {
  let files: string[];
  try {
    files = statSync(target).isDirectory()
      ? readdirSync(target)
          .filter((f) => EXTENSIONS.includes(path.extname(f)))
          .sort()
          .map((f) => path.join(target, f))
      : [target];
  } catch (err) {
    return {
      ok: false,
      problems: [
        `${target}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
      ],
    };
  }
  if (files.length === 0) return { ok: false, problems: [`${target}: no .yaml, .yml or .json files`] };
  const problems: string[] = [];
  const found: Array<{ declaration: T; file: string; where: string }> = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const result = parseDocuments(text, file, check, mappingHint);
    if (!result.ok) {
      problems.push(...result.problems);
      continue;
    }
    for (const { declaration, line } of result.declarations) {
      const where = `${file}:${line}`;
      if (seen.has(declaration.name))
        problems.push(`${where}: name: ${declaration.name} is declared twice (also at ${seen.get(declaration.name)})`);
      else seen.set(declaration.name, where);
      found.push({ declaration, file, where });
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, found };
}

/** The declarations of one file's text, each with the line it starts on; `file` names it in problems. */
export function parseDeclarationText(
  text: string,
  file: string,
  builtin = false,
):
  | { ok: true; declarations: Array<{ declaration: RollupDeclaration; line: number }> }
  | { ok: false; problems: string[] } {
  return parseDocuments(
    text,
    file,
    (value) => checkDeclaration(value, builtin),
    'a declaration is a mapping (name:, source:, measures:…)',
  );
}

/** The declarations of one file's text checked by `check`, each with the line it starts on. */
function parseDocuments<T>(
  text: string,
  file: string,
  check: Check<T>,
  mappingHint: string,
): { ok: true; declarations: Array<{ declaration: T; line: number }> } | { ok: false; problems: string[] } {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  const problems: string[] = [];
  const lineOf = (offset: number | undefined) => (offset === undefined ? 1 : lines.linePos(offset).line);
  if (!Array.isArray(docs)) return { ok: false, problems: [`${file}:1: not YAML or JSON`] };
  const out: Array<{ declaration: T; line: number }> = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) problems.push(`${file}:${lineOf(e.pos[0])}: ${e.message.split('\n')[0]}`);
      continue;
    }
    const root = doc.contents;
    if (root === null) continue;
    // A list of declarations, or one.
    const items: Array<{ node: Node; base: number[] }> = isSeq(root)
      ? root.items.map((node, i) => ({ node: node as Node, base: [i] }))
      : [{ node: root as Node, base: [] }];
    for (const { node, base } of items) {
      if (!isMap(node)) {
        problems.push(`${file}:${lineOf(node.range?.[0])}: ${mappingHint}`);
        continue;
      }
      const value = (doc as Document).toJS() as unknown;
      const one = base.length > 0 ? (value as unknown[])[base[0]!] : value;
      const checked = check(one);
      if (!checked.ok) {
        for (const issue of checked.issues) {
          const at = nodeAt(doc, [...base, ...issue.path]);
          problems.push(
            `${file}:${lineOf(at?.range?.[0] ?? node.range?.[0])}: ${issue.path.join('.') || 'declaration'}: ${issue.message}`,
          );
        }
        continue;
      }
      out.push({ declaration: checked.declaration, line: lineOf(node.range?.[0]) });
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, declarations: out };
}

/** The deepest node of `path` that exists (a missing key points at its parent mapping). */
function nodeAt(doc: Document, path: Array<string | number>): Node | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as Node | undefined;
    if (node && typeof node === 'object' && 'range' in node) return node;
  }
  return undefined;
}
