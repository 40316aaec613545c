import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { tether } from '../../platform/local/tether';
import type { Host } from './network';

/**
 * One Tributary process on a test host: started through the host's launcher (so it lives in
 * that network namespace), its stdout and stderr appended to its own log file, restartable, and
 * watched: an exit nobody asked for is recorded (a stage that dies is a failed scenario).
 */
export class HostStage {
  private child: ChildProcess | undefined;
  private stopping = false;
  readonly crashes: string[] = [];
  starts = 0;

  constructor(
    readonly name: string,
    readonly host: Host,
    private readonly argv: string[],
    private readonly env: Record<string, string>,
    /** Its /readyz, as the harness reaches it. */
    readonly readyUrl: string,
    /** Its /metrics. */
    readonly metricsUrl: string,
    readonly logFile: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    const command = [...this.host.launcher, ...this.argv];
    const log = openSync(this.logFile, 'a');
    const child = spawn(command[0]!, command.slice(1), {
      env: this.env,
      stdio: ['ignore', log, log],
      detached: true, // a group of its own, tethered to the harness: nothing outlives a killed run
    });
    closeSync(log);
    tether(child);
    this.stopping = false;
    this.starts += 1;
    child.once('exit', (code, signal) => {
      if (!this.stopping) this.crashes.push(`${this.name} exited (code ${code}, signal ${signal})`);
    });
    this.child = child;
  }

  /** Sends `signal` (SIGSTOP/SIGCONT for a zombie), without expecting an exit. */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Stops it (`signal`, SIGKILL after 30 s) and waits for its exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    this.stopping = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGCONT'); // a stopped process takes no SIGTERM
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }

  async ready(): Promise<boolean> {
    return (await this.readiness()) === undefined;
  }

  /** Undefined when /readyz answers 200; else why not: the failing checks, or that nothing answered. */
  async readiness(): Promise<string | undefined> {
    if (!this.running) return 'not running';
    try {
      const res = await fetch(this.readyUrl, { signal: AbortSignal.timeout(3000) });
      if (res.status === 200) {
        await res.arrayBuffer();
        return undefined;
      }
      const body = (await res.json().catch(() => ({}))) as { checks?: Array<{ name: string; ok: boolean }> };
      const failing = (body.checks ?? []).filter((c) => !c.ok).map((c) => c.name);
      return `${res.status}${failing.length ? ` ${failing.join('+')}` : ''}`;
    } catch {
      return 'no answer';
    }
  }

  /** The sum over labels of each counter or gauge named, from its /metrics (undefined: no answer). */
  async metrics(names: string[]): Promise<Record<string, number> | undefined> {
    try {
      const res = await fetch(this.metricsUrl, { signal: AbortSignal.timeout(1500) });
      if (res.status !== 200) return undefined;
      const text = await res.text();
      const out: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
      for (const line of text.split('\n')) {
        const name = /^([a-z_]+)[{ ]/.exec(line)?.[1];
        if (name && name in out) out[name]! += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return out;
    } catch {
      return undefined;
    }
  }

  /** How many lines of its log (every start of it) contain `text`. */
  logLines(text: string): number {
    try {
      return readFileSync(this.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes(text)).length;
    } catch {
      return 0;
    }
  }

  /** The last `n` lines of its log. */
  tail(n = 15): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
    } catch {
      return '(no log)';
    }
  }
}
