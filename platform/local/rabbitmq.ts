import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../logger';
import { PrerequisiteError } from './maven';
import { assertPortFree, freePort } from './ports';
import { sleep } from '../retry';
import { tether } from './tether';
import { TributaryError } from '../errors';

/** Where Debian's rabbitmq-server package puts the server script that runs as the calling user. */
const SERVER_SCRIPTS = ['/usr/lib/rabbitmq/bin/rabbitmq-server', '/usr/local/lib/rabbitmq/bin/rabbitmq-server'];

export interface LocalRabbitMQOptions {
  dataDir: string;
  logger: Logger;
  /** AMQP port; the node's data dir and name are derived from it, so a restart finds its queues. */
  port?: number;
  readyTimeoutMs?: number;
  /** The environment the server runs with (default: this process's): the command's, from the CLI. */
  env?: NodeJS.ProcessEnv;
}

/**
 * A real RabbitMQ node (Debian's `rabbitmq-server`) as a child process with its own port, data
 * directory, Erlang cookie and node name, for the bridge's demo and tests. Durable queues and
 * persistent messages survive `restart()`. Not for production: point `--url` at your RabbitMQ.
 */
export class LocalRabbitMQ {
  private child: ChildProcess | undefined;

  private constructor(
    private readonly opts: Required<LocalRabbitMQOptions>,
    private readonly script: string,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `amqp://guest:guest@localhost:${this.opts.port}`;
  }

  static async start(options: LocalRabbitMQOptions): Promise<LocalRabbitMQ> {
    const opts = { port: 5672, readyTimeoutMs: 60_000, ...options, env: options.env ?? process.env };
    const script = SERVER_SCRIPTS.find((s) => existsSync(s));
    if (!script) {
      throw new PrerequisiteError(
        'rabbitmq-server not found: install it (apt-get install rabbitmq-server), or point the bridge at an existing RabbitMQ with --url / RABBITMQ_URL',
      );
    }
    await assertPortFree(opts.port, 'local RabbitMQ AMQP listener');
    const dir = path.join(opts.dataDir, `rabbitmq-${opts.port}`);
    await mkdir(path.join(dir, 'log'), { recursive: true });
    await writeFile(path.join(dir, 'enabled_plugins'), '[].\n');
    await writeFile(
      path.join(dir, 'rabbitmq.conf'),
      [
        `listeners.tcp.default = 127.0.0.1:${opts.port}`,
        // The test and demo machine is often short of disk; a full disk must not block publishers here.
        'disk_free_limit.absolute = 50MB',
        '',
      ].join('\n'),
    );
    const server = new LocalRabbitMQ(opts, script, dir);
    process.once('exit', () => server.signal('SIGKILL'));
    await server.spawn();
    return server;
  }

  private async spawn(): Promise<void> {
    const { port, logger } = this.opts;
    const env = {
      ...this.opts.env,
      HOME: this.dir, // the Erlang cookie lives here
      RABBITMQ_NODENAME: `tributary-${port}@localhost`,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(await freePort()),
      RABBITMQ_MNESIA_BASE: path.join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(this.dir, 'log'),
      RABBITMQ_CONFIG_FILE: path.join(this.dir, 'rabbitmq'),
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(this.dir, 'enabled_plugins'),
      RABBITMQ_PID_FILE: path.join(this.dir, 'rabbitmq.pid'),
    };
    const log = createWriteStream(path.join(this.dir, 'server.log'), { flags: 'a' });
    // Its own process group: the script starts erl, which must get the signals too.
    const child = spawn(this.script, [], { env, cwd: this.dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.child = child;
    tether(child); // the node (script and Erlang VM) goes with this process, however it ends
    child.once('exit', (code, signal) => logger.info({ port, code, signal }, 'rabbitmq.exited'));
    const deadline = Date.now() + this.opts.readyTimeoutMs;
    while (!(await accepts(port))) {
      if (child.exitCode !== null)
        throw new TributaryError(
          'start_failed',
          `RabbitMQ exited with code ${child.exitCode} during start; see ${path.join(this.dir, 'server.log')}`,
        );
      if (Date.now() > deadline)
        throw new TributaryError(
          'start_failed',
          `RabbitMQ did not listen on ${port} within ${this.opts.readyTimeoutMs} ms; see ${path.join(this.dir, 'server.log')}`,
        );
      await sleep(200);
    }
    logger.info({ url: this.url }, 'rabbitmq.ready');
  }

  private signal(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined || this.child?.exitCode !== null || this.child.signalCode !== null) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  }

  private async waitExit(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.signal(signal);
    const timer = setTimeout(() => this.signal('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    // The port is free once the Erlang VM is gone, not when the script exits.
    while (await accepts(this.opts.port)) await sleep(100);
  }

  /** Clean shutdown (persistent messages are on disk). */
  stop(): Promise<void> {
    return this.waitExit('SIGTERM');
  }

  /** Hard kill: what a crashed broker looks like to its clients. */
  kill(): Promise<void> {
    return this.waitExit('SIGKILL');
  }

  /** Starts the node again on the same port and data. */
  async restart(): Promise<void> {
    await this.stop();
    await this.spawn();
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
