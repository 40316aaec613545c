import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Regression: `npm ci` on a fresh clone failed with "Missing: @chdb/lib-darwin-arm64@ from lock
 * file" — npm drops optional platform packages it cannot fetch from the lock file, and `npm ci`
 * then refuses the lock. Every optional dependency of every locked package must have an entry.
 */
describe('package-lock.json', () => {
  it('has an entry for every optional dependency, so npm ci accepts it on any machine', () => {
    const lock = JSON.parse(readFileSync(path.join(__dirname, '..', 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { optionalDependencies?: Record<string, string> }>;
    };
    const missing: string[] = [];
    for (const [where, pkg] of Object.entries(lock.packages)) {
      for (const dep of Object.keys(pkg.optionalDependencies ?? {})) {
        const nested = `${where ? `${where}/` : ''}node_modules/${dep}`;
        if (!lock.packages[nested] && !lock.packages[`node_modules/${dep}`])
          missing.push(`${dep} (for ${where || 'root'})`);
      }
    }
    expect(missing).toEqual([]);
  });
});
