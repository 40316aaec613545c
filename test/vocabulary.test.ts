import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ERROR_CODES, exitStatus, type ErrorCode } from '../platform/errors';
import { DEAD_LETTER_REASONS, REJECTION_REASONS } from '../schemas/outcome';

/** docs/operations.md lists the error codes and dead-letter reasons: exactly those of the code, with their meaning. */
describe('the documented vocabulary', () => {
  const page = readFileSync(path.resolve(__dirname, '..', 'docs', 'operations.md'), 'utf8');
  const rows = (heading: string) => {
    const section = page.slice(page.indexOf(`## ${heading}`), page.indexOf('\n## ', page.indexOf(`## ${heading}`) + 3));
    return [...section.matchAll(/^\| `([a-z_]+)` \|(.*)\|$/gm)].map((m) => [
      m[1]!,
      ...m[2]!.split('|').map((c) => c.trim()),
    ]);
  };

  it('lists every error code with its exit status and meaning, and nothing else', () => {
    expect(rows('Exit statuses and error codes')).toEqual(
      Object.entries(ERROR_CODES).map(([code, meaning]) => [code, String(exitStatus(code as ErrorCode)), meaning]),
    );
  });

  it('lists every dead-letter reason, marking those ingest answers with, and nothing else', () => {
    expect(rows('Dead-letter reasons')).toEqual(
      Object.entries(DEAD_LETTER_REASONS).map(([reason, meaning]) => [
        reason,
        reason in REJECTION_REASONS ? 'yes' : '',
        meaning,
      ]),
    );
  });
});
