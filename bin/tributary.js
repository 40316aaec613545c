#!/usr/bin/env node
// Runs the compiled CLI (`npm run build` → dist/), with no TypeScript compiler at run time.
// Tests and the dev loop run the source instead: `npx tsx cli/main.ts <command>`.
let cli;
try {
  cli = require('../dist/cli/main.js');
} catch (err) {
  if (err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('tributary: dist/ is missing: run `npm run build` first (npm run demo does)\n');
    process.exit(1);
  }
  throw err;
}
cli.main(process.argv);
