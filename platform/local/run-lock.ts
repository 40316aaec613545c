import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sleep } from '../retry';
import { TributaryError } from '../errors';

/**
 * One supervisor per DATA_DIR (`tributary start`, `tributary kafka`): `DATA_DIR/tributary.pid`
 * names it and the processes it started, each with its command line as /proc shows it. A pid
 * alone proves nothing (pids are reused); a pid whose command line is still the recorded one is
 * that process. A second supervisor on the same DATA_DIR is refused in one line; the leftovers of
 * one that died without stopping its children (killed before they were tethered, or by an older
 * version) are stopped before anything binds a port.
 */
interface Recorded {
  pid: number;
  command: string;
}
interface LockFile extends Recorded {
  what: string;
  startedAt: string;
  children: Recorded[];
}

export class DataDirInUseError extends TributaryError {
  constructor(message: string) {
    super('data_dir_in_use', message);
    this.name = 'DataDirInUseError';
  }
}

export interface RunLock {
  /** Records a child (a stage, a JVM) so a later start can recognise it as a leftover. */
  addChild(pid: number | undefined): void;
  release(): void;
  /** What was stopped of an earlier run, as `pid command` lines (empty when nothing was left). */
  readonly stoppedLeftovers: string[];
}

export const LOCK_FILE = 'tributary.pid';

/** The command line of a running process, or undefined when there is none (or no /proc). */
export function commandLineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return undefined;
  }
}

const alive = (r: Recorded) => commandLineOf(r.pid) === r.command;

export async function acquireRunLock(dataDir: string, what: string): Promise<RunLock> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, LOCK_FILE);
  const self: LockFile = {
    what,
    pid: process.pid,
    command: commandLineOf(process.pid) ?? process.argv.join(' '),
    startedAt: new Date().toISOString(),
    children: [],
  };
  const stoppedLeftovers: string[] = [];
  for (let attempt = 0; ; attempt++) {
    try {
      // Exclusive create: of two supervisors starting at once, one wins and the other reads its file.
      closeSync(openSync(file, 'wx', 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 3) throw err;
    }
    let earlier: LockFile | undefined;
    try {
      earlier = JSON.parse(readFileSync(file, 'utf8')) as LockFile;
    } catch {
      earlier = undefined; // half written by a supervisor that is starting right now, or junk
    }
    if (earlier && alive(earlier)) {
      throw new DataDirInUseError(
        `DATA_DIR ${dataDir} is in use by \`tributary ${earlier.what}\` (pid ${earlier.pid}, since ${earlier.startedAt}): stop it first, or choose another DATA_DIR`,
      );
    }
    if (!earlier && attempt === 0) {
      await sleep(200);
      continue;
    }
    for (const child of earlier?.children ?? []) {
      if (!alive(child)) continue;
      stoppedLeftovers.push(`${child.pid} ${child.command}`);
      await stopGroup(child);
    }
    try {
      unlinkSync(file);
    } catch {
      // another supervisor removed it first; the exclusive create decides
    }
  }
  const write = () => writeFileSync(file, JSON.stringify(self, null, 2), { mode: 0o600 });
  write();
  return {
    stoppedLeftovers,
    addChild(pid) {
      if (pid === undefined) return;
      const command = commandLineOf(pid);
      if (command === undefined) return;
      self.children = [...self.children.filter((c) => alive(c)), { pid, command }];
      write();
    },
    release() {
      try {
        const current = JSON.parse(readFileSync(file, 'utf8')) as LockFile;
        if (current.pid === process.pid) unlinkSync(file);
      } catch {
        // already gone
      }
    },
  };
}

/** SIGTERM to the process's group (every child was started in a group of its own), SIGKILL after 5 s. */
async function stopGroup(r: Recorded): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-r.pid, s);
    } catch {
      try {
        process.kill(r.pid, s);
      } catch {
        /* gone */
      }
    }
  };
  signal('SIGTERM');
  for (let waited = 0; waited < 5000 && alive(r); waited += 100) await sleep(100);
  if (alive(r)) signal('SIGKILL');
}
