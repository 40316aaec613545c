import { errorMessage } from '../platform/errors';

/** Prints one line naming what went wrong and exits non-zero; the stack only with DEBUG set. */
export function failAndExit(err: unknown): never {
  process.stderr.write(`tributary: ${errorMessage(err)}\n`);
  if (process.env.DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}
