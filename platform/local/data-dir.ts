import { mkdirSync, renameSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TributaryError } from '../errors';

/**
 * DATA_DIR, the one place the one-machine default writes (Kafka's log, chDB, Maven's cache, the
 * write key): a directory this process can write with room to spare, or a one-line error that
 * says what to do. A person controls it, so its problems are theirs to fix, not stack traces.
 */
export class DataDirError extends TributaryError {
  constructor(message: string) {
    super('data_dir', message);
    this.name = 'DataDirError';
  }
}

/** Free bytes for an unprivileged writer on the file system holding `dir` (or its nearest existing parent). */
export function freeBytes(dir: string): number {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      const s = statfsSync(d);
      return s.bavail * s.bsize;
    } catch (err) {
      if (d === path.dirname(d) || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

function notWritable(dir: string, err: unknown): DataDirError {
  const e = err as NodeJS.ErrnoException;
  const why =
    e.code === 'ENOTDIR' || e.code === 'EEXIST'
      ? 'a file is in the way'
      : e.code === 'ENOSPC'
        ? 'the disk is full'
        : e.code === 'EROFS'
          ? 'the file system is read-only'
          : e.code === 'EACCES' || e.code === 'EPERM'
            ? 'permission denied'
            : e.message;
  return new DataDirError(
    `DATA_DIR ${dir} is not writable (${e.code ?? 'error'}: ${why}): set DATA_DIR to a directory you can write, or fix its permissions`,
  );
}

const mib = (bytes: number) => `${Math.floor(bytes / 2 ** 20)} MiB`;

/**
 * Writes a file of DATA_DIR that only this user may read (the write key, the demo's ledger): a
 * new file written whole, then renamed over `file`. A symbolic link planted at `file` is
 * replaced, never followed, and a reader never sees half a file.
 */
export function writePrivateFile(file: string, data: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  rmSync(temporary, { force: true });
  writeFileSync(temporary, data, { mode: 0o600, flag: 'wx' });
  renameSync(temporary, file);
}

/**
 * Creates DATA_DIR (0700: it holds the write key and the data) and proves it writable with room
 * to spare. An existing DATA_DIR that any user may write is refused: anyone who can write there
 * could plant links or files that the pipeline then writes through or reads as its own.
 */
export function prepareDataDir(dir: string, minFreeBytes: number): void {
  const probe = path.join(dir, `.write-probe-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw notWritable(dir, err);
  }
  const mode = statSync(dir).mode;
  if ((mode & 0o002) !== 0) {
    throw new DataDirError(
      `DATA_DIR ${dir} may be written by any user (mode ${(mode & 0o777).toString(8)}): run chmod o-w ${dir}, or set DATA_DIR to a directory of your own`,
    );
  }
  try {
    rmSync(probe, { force: true });
    writeFileSync(probe, 'ok', { flag: 'wx' });
    rmSync(probe, { force: true });
  } catch (err) {
    throw notWritable(dir, err);
  }
  const free = freeBytes(dir);
  if (free < minFreeBytes) {
    throw new DataDirError(
      `DATA_DIR ${dir} has ${mib(free)} free, less than the ${mib(minFreeBytes)} Kafka and ClickHouse need to start (DATA_DIR_MIN_FREE_MB): free some space or set DATA_DIR to another disk`,
    );
  }
}

/**
 * Watches the free space of DATA_DIR while a stage runs: `low` says why to stop accepting work
 * (below the low-water mark), undefined again once space is back. Checked every `intervalMs`.
 */
export class DiskGuard {
  private reason: string | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly dir: string,
    private readonly minFreeBytes: number,
    intervalMs = 2000,
    private readonly free: (dir: string) => number = freeBytes,
  ) {
    this.check();
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  /** Why the stage should not accept more now, or undefined. */
  get low(): string | undefined {
    return this.reason;
  }

  check(): void {
    let free: number;
    try {
      free = this.free(this.dir);
    } catch {
      return; // cannot tell: keep the last answer
    }
    this.reason =
      free < this.minFreeBytes
        ? `DATA_DIR ${this.dir} has ${mib(free)} free, below ${mib(this.minFreeBytes)} (DATA_DIR_MIN_FREE_MB): not accepting events until space is freed`
        : undefined;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
