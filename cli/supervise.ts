import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../platform/logger';
import { sleep } from '../platform/retry';
import { tether } from '../platform/local/tether';
import { writePrivateFile } from '../platform/local/data-dir';
import { TributaryError } from '../platform/errors';

/**
 * Node flags per stage `start` runs. The processor shares the machine's cores with the other
 * stages, the broker and chDB's threads, so V8's parallel and concurrent GC helpers mostly contend
 * for the same cores: collecting on its main thread alone cost it ~9% less CPU in the 50k-user
 * catch-up on two cores (docs/benchmarks.md). Ingest keeps V8's defaults (not measured better).
 */
const STAGE_NODE_FLAGS: Record<string, string[]> = { process: ['--single-threaded-gc'] };

/** The arguments node gets to run stage `args` of this program (`self`: node, its flags, the entry script). */
export function stageArgs(self: string[], args: string[]): string[] {
  const flags = STAGE_NODE_FLAGS[args[0] ?? ''] ?? [];
  return [...flags.filter((f) => !self.includes(f)), ...self.slice(1), ...args];
}

/** How a supervised stage is doing: what `/api/pipeline` and the status line show. */
export interface StageState {
  stage: string;
  pid: number | undefined;
  /** Times it died and was started again. */
  restarts: number;
  /** How it last ended (exit code or signal), and when. */
  lastExit: { code: number | null; signal: string | null; at: string } | null;
}

/** A stage that dies within this long of its start counts as failing again: its next start waits longer. */
const HEALTHY_AFTER_MS = 60_000;
const FIRST_RESTART_MS = 1000;
const MAX_RESTART_MS = 30_000;

/** The wait before restart `n` (1-based) of a stage failing again and again: 1 s, doubling, at most 30 s. */
export function restartDelay(consecutive: number): number {
  return Math.min(MAX_RESTART_MS, FIRST_RESTART_MS * 2 ** Math.max(0, consecutive - 1));
}

export interface Supervised {
  stop: () => Promise<void>;
  readonly state: StageState;
}

/**
 * Runs `tributary <args>` as a child process (`self`: how this program was started) and starts
 * it again whenever it dies, until stopped: after 1 s, doubling up to 30 s while it keeps dying
 * within a minute of its start. Each restart is logged once, with its exit and the wait.
 * `onChange` hears of every start and exit.
 */
export function supervise(
  self: string[],
  args: string[],
  env: NodeJS.ProcessEnv,
  logger: Logger,
  stopping: () => boolean,
  onSpawn?: (child: ChildProcess) => void,
  onChange?: (state: StageState) => void,
): Supervised {
  const stage = args[0] === 'sink' && args.includes('--with-dashboard') ? 'sink+dashboard' : args.join(' ');
  const state: StageState = { stage, pid: undefined, restarts: 0, lastExit: null };
  let child: ChildProcess;
  let stopped = false;
  let consecutive = 0;
  let timer: NodeJS.Timeout | undefined;
  const launch = () => {
    timer = undefined;
    if (stopped || stopping()) return;
    const startedAt = Date.now();
    // Own process group: on Ctrl-C this process stops the stages in order, not the terminal all at once.
    child = spawn(self[0]!, stageArgs(self, args), { env, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
    tether(child); // stopped (SIGTERM, then SIGKILL) if this process dies without stopping it
    state.pid = child.pid;
    onSpawn?.(child);
    onChange?.(state);
    child.once('exit', (code, signal) => {
      state.pid = undefined;
      state.lastExit = { code, signal, at: new Date().toISOString() };
      if (stopped || stopping()) return;
      consecutive = Date.now() - startedAt < HEALTHY_AFTER_MS ? consecutive + 1 : 1;
      state.restarts += 1;
      const delay = restartDelay(consecutive);
      logger.error({ stage, code, signal, restart: state.restarts, restartInMs: delay }, 'start.stage.died');
      onChange?.(state);
      timer = setTimeout(launch, delay);
    });
  };
  launch();
  // An error exit of this process must not leave the stage running in its own group.
  process.once('exit', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  return {
    state,
    stop: () =>
      new Promise<void>((resolve) => {
        stopped = true;
        clearTimeout(timer);
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/**
 * The supervised stages' states in one file (DATA_DIR/stages.json, passed to the stages as
 * STAGES_FILE), replaced whole on every change, for the dashboard's /api/pipeline, which runs in
 * another process.
 */
export class StageBoard {
  private readonly stages = new Map<string, StageState>();

  constructor(private readonly file: string) {}

  readonly update = (state: StageState): void => {
    this.stages.set(state.stage, state);
    writePrivateFile(
      this.file,
      JSON.stringify({ updatedAt: new Date().toISOString(), stages: [...this.stages.values()] }),
    );
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
    if (Date.now() > deadline) throw new TributaryError('start_failed', `${url} not ready within ${timeoutMs} ms`);
    await sleep(200);
  }
}
