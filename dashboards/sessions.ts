import { randomBytes } from 'node:crypto';

export const SESSION_COOKIE = 'tributary_session';

/**
 * Browser sessions of the dashboard page: a read key is sent once, in a header, to POST
 * /api/session; the page then holds an HttpOnly, SameSite=Strict cookie with a random token,
 * which its fetches and its EventSource send. No read key ever travels in a URL (or a log of one).
 */
export class Sessions {
  private readonly tokens = new Map<string, number>();

  constructor(
    private readonly ttlMs = 12 * 3600_000,
    private readonly max = 10_000,
  ) {}

  create(now = Date.now()): string {
    if (this.tokens.size >= this.max) this.sweep(now);
    // Still full of live sessions: the oldest goes.
    if (this.tokens.size >= this.max) this.tokens.delete(this.tokens.keys().next().value!);
    const token = randomBytes(24).toString('base64url');
    this.tokens.set(token, now + this.ttlMs);
    return token;
  }

  valid(token: string | undefined, now = Date.now()): boolean {
    if (!token) return false;
    const expires = this.tokens.get(token);
    if (expires === undefined) return false;
    if (expires < now) {
      this.tokens.delete(token);
      return false;
    }
    return true;
  }

  cookie(token: string): string {
    return `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(this.ttlMs / 1000)}`;
  }

  private sweep(now: number): void {
    for (const [token, expires] of this.tokens) if (expires < now) this.tokens.delete(token);
  }
}

/** The session token of a Cookie header. */
export function sessionToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === SESSION_COOKIE) return value.join('=');
  }
  return undefined;
}
