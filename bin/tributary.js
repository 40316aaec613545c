#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's require hook, so a fresh clone needs no build step.
require('tsx/cjs');
require('../cli/main.ts').main(process.argv);
