import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startIngestFixture, type IngestFixture } from '../../test/ingest';
import { testConfig, waitFor } from '../../test/helpers';

/**
 * A full disk mid-run: DATA_DIR on a real 32 MiB tmpfs (mounting one needs root; without it
 * this test says it is skipped). Filled below DATA_DIR_MIN_FREE_MB, ingest stops accepting — 503
 * naming DATA_DIR, /readyz failing — and accepts again once space is freed.
 */
const mountPoint = mkdtempSync(path.join(os.tmpdir(), 'tributary-tmpfs-'));
const mounted = (() => {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mountPoint], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

(mounted ? describe : describe.skip)('ingest beside a filling disk (tmpfs DATA_DIR)', () => {
  const config = testConfig({
    WRITE_KEYS: 'disk-key',
    DATA_DIR: mountPoint,
    INGEST_DISK_GUARD: 'on',
    DATA_DIR_MIN_FREE_MB: '16',
  });
  let fixture: IngestFixture | undefined;

  beforeAll(async () => {
    fixture = await startIngestFixture(config, 'disk-test');
  });
  afterAll(async () => {
    await fixture?.close();
    execFileSync('umount', [mountPoint]);
  });

  const post = () =>
    fetch(`${fixture!.ingest.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer disk-key' },
      body: JSON.stringify({ type: 'login', userId: 'u-disk', occurredAt: Date.now() }),
    });

  it('stops accepting (503 naming DATA_DIR, /readyz failing) below the mark, and accepts again once space is freed', async () => {
    expect((await post()).status).toBe(202);
    const filler = path.join(mountPoint, 'filler');
    writeFileSync(filler, Buffer.alloc(24 * 2 ** 20));
    const refused = await waitFor(
      async () => {
        const res = await post();
        return res.status === 503
          ? {
              body: (await res.json()) as { error: string; message: string },
              retryAfter: res.headers.get('retry-after'),
            }
          : undefined;
      },
      'ingest to stop accepting',
      15_000,
      250,
    );
    expect(refused.body.error).toBe('insufficient_storage');
    expect(refused.body.message).toMatch(new RegExp(`^DATA_DIR ${mountPoint} has \\d+ MiB free, below 16 MiB`));
    expect(refused.retryAfter).toBe('5');
    expect((await fetch(`${fixture!.ingest.url}/readyz`)).status).toBe(503);
    rmSync(filler);
    await waitFor(
      async () => ((await post()).status === 202 ? true : undefined),
      'ingest to accept again',
      15_000,
      250,
    );
    expect((await fetch(`${fixture!.ingest.url}/readyz`)).status).toBe(200);
  });
});
