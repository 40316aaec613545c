import type { Response } from 'express';

/**
 * Bytes a stream may have waiting to be read by its client before it is dropped: about two
 * minutes of figures. A client that stops reading would otherwise grow the process's memory by
 * every message for as long as its connection stays open.
 */
export const STREAM_MAX_BUFFERED_BYTES = 256 * 1024;

/**
 * The live figures of /api/stream, computed once per tick for every subscriber: N open pages
 * cost one set of queries a second, not N. A tick whose computation is still running is skipped
 * (never two at once), and nothing is computed while nobody listens. Connections are capped in
 * all and per client address; one whose client falls behind by more than `maxBufferedBytes` is
 * closed (the page's EventSource reconnects and gets the latest figures at once).
 */
export class StreamHub {
  private readonly subscribers = new Set<Response>();
  private readonly perClient = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private last: string | undefined;
  /** Ticks skipped because the previous computation had not finished (a slow ClickHouse). */
  skipped = 0;
  /** Computations run (one per tick, whatever the number of subscribers). */
  computations = 0;
  /** Streams closed because their client fell behind. */
  dropped = 0;

  constructor(
    private readonly compute: (signal: AbortSignal) => Promise<unknown>,
    private readonly opts: {
      intervalMs: number;
      maxStreams: number;
      maxPerClient: number;
      timeoutMs: number;
      maxBufferedBytes?: number;
    },
  ) {}

  get size(): number {
    return this.subscribers.size;
  }

  /** Why `client` may not open another stream now, or undefined when it may. */
  refusal(client: string): string | undefined {
    if (this.subscribers.size >= this.opts.maxStreams)
      return `the dashboard serves ${this.opts.maxStreams} live streams at most (DASHBOARD_MAX_STREAMS)`;
    if ((this.perClient.get(client) ?? 0) >= this.opts.maxPerClient)
      return `${this.opts.maxPerClient} live streams per client at most (DASHBOARD_MAX_STREAMS_PER_CLIENT)`;
    return undefined;
  }

  /** Adds an SSE response (headers already sent); it gets the latest figures at once, if any. */
  subscribe(res: Response, client: string): void {
    this.subscribers.add(res);
    this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
    if (this.last) this.send(res, this.last);
    res.once('close', () => {
      this.subscribers.delete(res);
      const n = (this.perClient.get(client) ?? 1) - 1;
      if (n <= 0) this.perClient.delete(client);
      else this.perClient.set(client, n);
      if (this.subscribers.size === 0) this.stop();
    });
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.opts.intervalMs);
      void this.tick();
    }
  }

  private async tick(): Promise<void> {
    if (this.running) {
      this.skipped++;
      return;
    }
    this.running = true;
    this.computations++;
    let message: string;
    try {
      const figures = await this.compute(AbortSignal.timeout(this.opts.timeoutMs));
      message = `event: figures\ndata: ${JSON.stringify(figures)}\n\n`;
      this.last = message;
    } catch (err) {
      message = `event: error\ndata: ${JSON.stringify({ message: (err as Error).message })}\n\n`;
    } finally {
      this.running = false;
    }
    for (const res of this.subscribers) this.send(res, message);
  }

  /** Writes to a subscriber unless its client has left more than maxBufferedBytes unread: then it is closed. */
  private send(res: Response, message: string): void {
    if (res.writableLength > (this.opts.maxBufferedBytes ?? STREAM_MAX_BUFFERED_BYTES)) {
      this.dropped++;
      this.subscribers.delete(res);
      res.destroy();
      return;
    }
    res.write(message);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.stop();
    for (const res of this.subscribers) res.end();
    this.subscribers.clear();
    this.perClient.clear();
  }
}
