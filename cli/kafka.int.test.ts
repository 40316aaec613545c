import { mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { countBrokers } from '../platform/kafka/client';
import { freeRestartablePorts } from '../platform/local/ports';
import { commandLineOf, LOCK_FILE } from '../platform/local/run-lock';
import { exitReport, killAndWait, spawnTributary } from '../test/pipeline';
import { waitFor } from '../test/helpers';

describe('tributary kafka', () => {
  it('SIGKILL of `tributary kafka` takes its JVM with it within seconds; the next one on the same DATA_DIR and port comes up', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tributary-kafka-cmd-'));
    // The jars the run already has (the command caches them under DATA_DIR/maven).
    mkdirSync(path.resolve(__dirname, '..', '.tributary', 'maven'), { recursive: true });
    symlinkSync(path.resolve(__dirname, '..', '.tributary', 'maven'), path.join(dataDir, 'maven'));
    const env = { DATA_DIR: dataDir, LOG_LEVEL: 'warn', KAFKA_BROKERS: '' };
    let port = 0;
    const args = () => ['kafka', '--port', String(port), '--no-topics'];
    /** Until the broker answers; fails at once, with the end of its stderr, if `child` exits first. */
    const ready = async (child: ReturnType<typeof spawnTributary>) => {
      const state = await waitFor(
        async () =>
          child.exitCode !== null || child.signalCode !== null
            ? 'exited'
            : (await countBrokers([`localhost:${port}`]).catch(() => 0)) === 1
              ? 'ready'
              : undefined,
        'the broker to answer',
        120_000,
        500,
      );
      if (state === 'exited') throw new Error(`tributary kafka ${exitReport(child)}`);
    };

    // Its controller port (port + 1) must be free too, and both stay ours while it restarts. Ports
    // are picked free but taken only at start: a test beside this one may take them in between,
    // which the command refuses at once (a port in use); then other ports.
    let first!: ReturnType<typeof spawnTributary>;
    for (let attempt = 1; ; attempt++) {
      port = await freeRestartablePorts(2);
      first = spawnTributary(args(), env);
      try {
        await ready(first);
        break;
      } catch (err) {
        if (attempt === 3 || !/in use/i.test(String(err))) throw err;
      }
    }
    let second: ReturnType<typeof spawnTributary> | undefined;
    try {
      const lock = await waitFor(() => {
        const l = JSON.parse(readFileSync(path.join(dataDir, 'kafka', LOCK_FILE), 'utf8')) as {
          pid: number;
          children: Array<{ pid: number; command: string }>;
        };
        return l.children.length > 0 ? l : undefined;
      }, 'the JVM in the run lock');
      expect(lock.children[0]!.command).toMatch(/java .*kafka\.Kafka/);
      const pids = [lock.pid, ...lock.children.map((c) => c.pid)];
      first.kill('SIGKILL');
      await waitFor(
        () => (pids.every((pid) => commandLineOf(pid) === undefined) ? true : undefined),
        'the supervisor and its JVM to be gone',
        20_000,
        200,
      );

      second = spawnTributary(args(), env);
      await ready(second);
    } finally {
      await killAndWait(first);
      if (second) await killAndWait(second, 'SIGTERM');
    }
  }, 300_000); // two broker starts of up to 120 s each, and the wait between
});
