import { mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { countBrokers } from '../platform/kafka/client';
import { freeRestartablePorts } from '../platform/local/ports';
import { commandLineOf, LOCK_FILE } from '../platform/local/run-lock';
import { killAndWait, spawnTributary } from '../test/pipeline';
import { waitFor } from '../test/helpers';

describe('tributary kafka', () => {
  it('#19: SIGKILL of `tributary kafka` takes its JVM with it within seconds; the next one on the same DATA_DIR and port comes up', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tributary-kafka-cmd-'));
    // The jars the run already has (the command caches them under DATA_DIR/maven).
    mkdirSync(path.resolve(__dirname, '..', '.tributary', 'maven'), { recursive: true });
    symlinkSync(path.resolve(__dirname, '..', '.tributary', 'maven'), path.join(dataDir, 'maven'));
    // Its controller port (port + 1) must be free too, and both stay ours while it restarts.
    const port = await freeRestartablePorts(2);
    const env = { DATA_DIR: dataDir, LOG_LEVEL: 'warn', KAFKA_BROKERS: '' };
    const args = ['kafka', '--port', String(port), '--no-topics'];
    const ready = () => waitFor(async () => ((await countBrokers([`localhost:${port}`]).catch(() => 0)) === 1 ? true : undefined), 'the broker to answer', 120_000, 500);

    const first = spawnTributary(args, env);
    let second: ReturnType<typeof spawnTributary> | undefined;
    try {
      await ready();
      const lock = await waitFor(() => {
        const l = JSON.parse(readFileSync(path.join(dataDir, 'kafka', LOCK_FILE), 'utf8')) as { pid: number; children: Array<{ pid: number; command: string }> };
        return l.children.length > 0 ? l : undefined;
      }, 'the JVM in the run lock');
      expect(lock.children[0]!.command).toMatch(/java .*kafka\.Kafka/);
      const pids = [lock.pid, ...lock.children.map((c) => c.pid)];
      first.kill('SIGKILL');
      await waitFor(() => (pids.every((pid) => commandLineOf(pid) === undefined) ? true : undefined), 'the supervisor and its JVM to be gone', 20_000, 200);

      second = spawnTributary(args, env);
      await ready();
    } finally {
      await killAndWait(first);
      if (second) await killAndWait(second, 'SIGTERM');
    }
  });
});
