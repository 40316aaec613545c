import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stageArgs } from './supervise';

/** Runs `self` (node, its flags, a script) as supervise would run stage `args`, and returns what the child saw. */
async function launched(self: string[], args: string[]): Promise<{ execArgv: string[]; argv: string[] }> {
  const { stdout } = await promisify(execFile)(self[0]!, stageArgs(self, args));
  return JSON.parse(stdout) as { execArgv: string[]; argv: string[] };
}

describe('the stages start supervises', () => {
  const script = path.join(mkdtempSync(path.join(os.tmpdir(), 'stage-args-')), 'stage.js');
  writeFileSync(script, 'process.stdout.write(JSON.stringify({ execArgv: process.execArgv, argv: process.argv.slice(2) }))');

  it('the processor runs under single-threaded GC, which node accepts, with its arguments after the entry script', async () => {
    const seen = await launched([process.execPath, script], ['process', '--verbose']);
    expect(seen).toEqual({ execArgv: ['--single-threaded-gc'], argv: ['process', '--verbose'] });
  });

  it('the other stages keep V8 defaults; every stage keeps the flags this program was started with, each once', async () => {
    expect(await launched([process.execPath, script], ['ingest'])).toEqual({ execArgv: [], argv: ['ingest'] });
    const seen = await launched([process.execPath, '--single-threaded-gc', '--max-old-space-size=256', script], ['process']);
    expect(seen).toEqual({ execArgv: ['--single-threaded-gc', '--max-old-space-size=256'], argv: ['process'] });
  });
});
