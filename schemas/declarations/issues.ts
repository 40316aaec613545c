import type { z } from 'zod';

/** A problem with one field of a declaration (a rollup, an event type): its path (for the line) and what is wrong. */
export interface DeclarationIssue {
  path: Array<string | number>;
  message: string;
}

/** zod's issues as DeclarationIssues (a symbol key, which YAML cannot hold, as its name). */
export function issuesOf(error: z.ZodError): DeclarationIssue[] {
  return error.issues.map((i) => ({
    path: i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
    message: i.message,
  }));
}
