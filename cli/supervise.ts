import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../platform/logger';
import { sleep } from '../platform/retry';
import { tether } from '../platform/local/tether';

/**
 * Node flags per stage `start` runs. The processor shares the machine's cores with the other
 * stages, the broker and chDB's threads, so V8's parallel and concurrent GC helpers mostly contend
 * for the same cores: collecting on its main thread alone cost it ~9% less CPU in the 50k-user
 * catch-up on two cores (docs/benchmarks.md, #17). Ingest keeps V8's defaults (not measured better).
 */
const STAGE_NODE_FLAGS: Record<string, string[]> = { process: ['--single-threaded-gc'] };

/** The arguments node gets to run stage `args` of this program (`self`: node, its flags, the entry script). */
export function stageArgs(self: string[], args: string[]): string[] {
  const flags = STAGE_NODE_FLAGS[args[0] ?? ''] ?? [];
  return [...flags.filter((f) => !self.includes(f)), ...self.slice(1), ...args];
}

/**
 * Runs `tributary <args>` as a child process (`self`: how this program was started) and restarts
 * it if it dies, until stopped.
 */
export function supervise(self: string[], args: string[], env: NodeJS.ProcessEnv, logger: Logger, stopping: () => boolean,
  onSpawn?: (child: ChildProcess) => void): { stop: () => Promise<void> } {
  const stage = args.join(' ');
  let child: ChildProcess;
  let stopped = false;
  const launch = () => {
    // Own process group: on Ctrl-C this process stops the stages in order, not the terminal all at once.
    child = spawn(self[0]!, stageArgs(self, args), { env, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
    tether(child); // stopped (SIGTERM, then SIGKILL) if this process dies without stopping it
    onSpawn?.(child);
    child.once('exit', (code, signal) => {
      if (stopped || stopping()) return;
      logger.error({ stage, code, signal }, 'start.stage.died');
      setTimeout(launch, 1000);
    });
  };
  launch();
  // An error exit of this process must not leave the stage running in its own group.
  process.once('exit', () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM'); });
  return {
    stop: () => new Promise<void>((resolve) => {
      stopped = true;
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('exit', () => { clearTimeout(timer); resolve(); });
      child.kill('SIGTERM');
    }),
  };
}

export async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready within ${timeoutMs} ms`);
    await sleep(200);
  }
}
