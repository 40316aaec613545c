import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { restartDelay, stageArgs, supervise, type StageState } from './supervise';
import { silentLogger } from '../platform/logger';
import { waitFor } from '../test/helpers';

/** Runs `self` (node, its flags, a script) as supervise would run stage `args`, and returns what the child saw. */
async function launched(self: string[], args: string[]): Promise<{ execArgv: string[]; argv: string[] }> {
  const { stdout } = await promisify(execFile)(self[0]!, stageArgs(self, args));
  return JSON.parse(stdout) as { execArgv: string[]; argv: string[] };
}

describe('the stages start supervises', () => {
  const script = path.join(mkdtempSync(path.join(os.tmpdir(), 'stage-args-')), 'stage.js');
  writeFileSync(
    script,
    'process.stdout.write(JSON.stringify({ execArgv: process.execArgv, argv: process.argv.slice(2) }))',
  );

  it('the processor runs under single-threaded GC, which node accepts, with its arguments after the entry script', async () => {
    const seen = await launched([process.execPath, script], ['process', '--verbose']);
    expect(seen).toEqual({ execArgv: ['--single-threaded-gc'], argv: ['process', '--verbose'] });
  });

  it('the other stages keep V8 defaults; every stage keeps the flags this program was started with, each once', async () => {
    expect(await launched([process.execPath, script], ['ingest'])).toEqual({ execArgv: [], argv: ['ingest'] });
    const seen = await launched(
      [process.execPath, '--single-threaded-gc', '--max-old-space-size=256', script],
      ['process'],
    );
    expect(seen).toEqual({ execArgv: ['--single-threaded-gc', '--max-old-space-size=256'], argv: ['process'] });
  });
});

describe('supervise', () => {
  it('waits 1 s before restarting a stage that keeps dying, doubling up to 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 10].map(restartDelay)).toEqual([
      1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });

  it('starts a stage again each time it dies, counting restarts and reporting each start and exit', async () => {
    const script = path.join(mkdtempSync(path.join(os.tmpdir(), 'dying-stage-')), 'stage.js');
    writeFileSync(script, 'process.exit(3)');
    const seen: StageState[] = [];
    const pids: number[] = [];
    const stage = supervise(
      [process.execPath, script],
      ['ingest'],
      process.env,
      silentLogger,
      () => false,
      (child) => pids.push(child.pid!),
      (s) => seen.push({ ...s }),
    );
    try {
      // Dies at once, restarted after 1 s, then 2 s.
      await waitFor(() => (stage.state.restarts >= 2 ? true : undefined), 'two restarts', 10_000, 50);
      expect(stage.state.lastExit).toMatchObject({ code: 3, signal: null });
      expect(new Set(pids).size).toBeGreaterThanOrEqual(2);
      expect(seen.some((s) => s.pid !== undefined && s.restarts === 1)).toBe(true);
    } finally {
      await stage.stop();
    }
  });
});
