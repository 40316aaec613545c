import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger';
import { checkJava, mavenClasspath } from './maven';
import { assertPortFree } from './ports';
import { sleep } from '../retry';
import { tether } from './tether';
import { TributaryError } from '../errors';

/** The Maven manifest beside this file: ElasticMQ's server. */
export const ELASTICMQ_POM = path.join(__dirname, 'elasticmq', 'pom.xml');

export interface LocalSqsOptions {
  dataDir: string;
  /** Maven's local repository (shared with the Kafka jars). */
  mavenRepo: string;
  logger: Logger;
  port?: number;
  readyTimeoutMs?: number;
  /** An ElasticMQ config file to include (e.g. deploy/elasticmq.conf and its queues); its address and port are overridden. */
  include?: string;
  /** The environment java and mvn are looked up in and run with (default: this process's): the command's, from the CLI. */
  env?: NodeJS.ProcessEnv;
}

/**
 * ElasticMQ, an SQS-compatible server (the SQS query and JSON protocols, standard and FIFO
 * queues), as a child JVM for the SQS bridge's demo and tests. Queues live in memory.
 */
export class LocalSqs {
  private constructor(
    private readonly child: ChildProcess,
    readonly endpoint: string,
  ) {}

  static async start(options: LocalSqsOptions): Promise<LocalSqs> {
    const { port = 9324, readyTimeoutMs = 90_000, logger } = options;
    const env = options.env ?? process.env;
    await checkJava(env);
    await assertPortFree(port, 'local SQS server (ElasticMQ)');
    const classpath = await mavenClasspath(
      ELASTICMQ_POM,
      options.mavenRepo,
      logger,
      'the ElasticMQ jars',
      'or point the SQS bridge at AWS or another SQS-compatible server with --queue-url / --endpoint',
      env,
    );
    const dir = path.join(options.dataDir, `elasticmq-${port}`);
    await mkdir(dir, { recursive: true });
    const conf = path.join(dir, 'elasticmq.conf');
    await writeFile(
      conf,
      [
        'include classpath("application.conf")',
        ...(options.include ? [`include file(${JSON.stringify(path.resolve(options.include))})`] : []),
        `node-address { protocol = http, host = localhost, port = ${port}, context-path = "" }`,
        `rest-sqs { enabled = true, bind-port = ${port}, bind-hostname = "127.0.0.1", sqs-limits = strict }`,
        'rest-stats { enabled = false }',
        '',
      ].join('\n'),
    );
    const log = createWriteStream(path.join(dir, 'server.log'), { flags: 'a' });
    const child = spawn('java', ['-Xmx256m', `-Dconfig.file=${conf}`, '-cp', classpath, 'org.elasticmq.server.Main'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env,
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    tether(child); // gone with this process, however it ends
    const endpoint = `http://localhost:${port}`;
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      try {
        if ((await fetch(`${endpoint}/?Action=ListQueues`)).ok) break;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null)
        throw new TributaryError(
          'start_failed',
          `ElasticMQ exited with code ${child.exitCode} during start; see ${path.join(dir, 'server.log')}`,
        );
      if (Date.now() > deadline)
        throw new TributaryError(
          'start_failed',
          `ElasticMQ did not answer on ${port} within ${readyTimeoutMs} ms; see ${path.join(dir, 'server.log')}`,
        );
      await sleep(200);
    }
    logger.info({ endpoint }, 'sqs.local.ready');
    return new LocalSqs(child, endpoint);
  }

  /** Queues are in memory, so there is nothing to save: SIGTERM, and SIGKILL if its HTTP shutdown lingers (it can take 20 s). */
  stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.child.kill('SIGTERM');
    });
  }
}
