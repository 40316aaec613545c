import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataDirError, DiskGuard, freeBytes, prepareDataDir, writePrivateFile } from './data-dir';

describe('DATA_DIR checks (one line a person can act on)', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'data-dir-test-'));

  it('creates DATA_DIR owner-only and accepts it with room to spare', () => {
    const dir = path.join(tmp, 'fresh', 'data');
    prepareDataDir(dir, 1);
    expect(freeBytes(dir)).toBeGreaterThan(0);
  });

  it('names a DATA_DIR that cannot be a directory, and what to do, in one line', () => {
    const file = path.join(tmp, 'a-file');
    writeFileSync(file, 'x');
    expect(() => prepareDataDir(path.join(file, 'data'), 1)).toThrow(DataDirError);
    expect(() => prepareDataDir(path.join(file, 'data'), 1)).toThrow(
      /^DATA_DIR .*a-file\/data is not writable \(ENOTDIR: a file is in the way\): set DATA_DIR to a directory you can write/,
    );
  });

  it('refuses an existing DATA_DIR that any user may write, saying how to fix it', () => {
    const open = path.join(tmp, 'world-writable');
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(() => prepareDataDir(open, 1)).toThrow(
      /^DATA_DIR .*world-writable may be written by any user \(mode 777\): run chmod o-w /,
    );
    chmodSync(open, 0o700);
    expect(() => prepareDataDir(open, 1)).not.toThrow();
  });

  it('writePrivateFile replaces a planted symbolic link instead of writing through it, and leaves the file 0600', () => {
    const dir = mkdtempSync(path.join(tmp, 'private-'));
    const target = path.join(tmp, 'someone-elses-file');
    writeFileSync(target, 'precious');
    symlinkSync(target, path.join(dir, 'write-key'));
    writePrivateFile(path.join(dir, 'write-key'), 'dev_key\n');
    expect(readFileSync(target, 'utf8')).toBe('precious');
    expect(lstatSync(path.join(dir, 'write-key')).isSymbolicLink()).toBe(false);
    expect(readFileSync(path.join(dir, 'write-key'), 'utf8')).toBe('dev_key\n');
    expect((lstatSync(path.join(dir, 'write-key')).mode & 0o777).toString(8)).toBe('600');
  });

  it('refuses to start on a disk with less free space than DATA_DIR_MIN_FREE_MB, saying how much there is', () => {
    const free = freeBytes(tmp);
    expect(() => prepareDataDir(tmp, free + 2 ** 40)).toThrow(
      /^DATA_DIR .* has \d+ MiB free, less than the \d+ MiB Kafka and ClickHouse need to start \(DATA_DIR_MIN_FREE_MB\)/,
    );
  });

  it('DiskGuard: low below the mark, clear again once space is back', () => {
    let free = 10 * 2 ** 20;
    const guard = new DiskGuard('/data', 16 * 2 ** 20, 60_000, () => free);
    try {
      expect(guard.low).toMatch(
        /^DATA_DIR \/data has 10 MiB free, below 16 MiB \(DATA_DIR_MIN_FREE_MB\): not accepting events until space is freed$/,
      );
      free = 100 * 2 ** 20;
      guard.check();
      expect(guard.low).toBeUndefined();
    } finally {
      guard.stop();
    }
  });
});
