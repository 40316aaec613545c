import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../logger';
import { countBrokers } from '../kafka/client';
import { PortInUseError, assertPortFree, freePort } from './ports';
import { checkJava, kafkaClasspath } from './maven';
import { sleep } from '../retry';
import { tether } from './tether';

const run = promisify(execFile);

/**
 * A real Apache Kafka 4 broker (or a 3-node cluster) in KRaft mode, each node a combined
 * broker+controller JVM started as a child process. Node i (0-based) listens for clients on
 * `port + 2i` and for the controller quorum on `port + 2i + 1`. Data lives under `dataDir` and
 * survives restarts: storage is formatted only when a node has none.
 */
export interface LocalKafkaOptions {
  dataDir: string;
  /** Maven's local repository for the jars (shared between data dirs to download once). */
  mavenRepo: string;
  logger: Logger;
  nodes?: 1 | 3;
  port?: number;
  /** JVM heap per node, e.g. "-Xms256m -Xmx768m". */
  heapOpts?: string;
  readyTimeoutMs?: number;
  /** The environment java and mvn are looked up in and run with (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

interface NodeSpec {
  id: number;
  port: number;
  controllerPort: number;
  dir: string;
  propsFile: string;
  logFile: string;
}

export class LocalKafka {
  private readonly processes = new Map<number, ChildProcess>();

  private constructor(
    private readonly opts: Required<Omit<LocalKafkaOptions, 'heapOpts'>> & { heapOpts: string },
    private readonly classpath: string,
    private readonly nodes: NodeSpec[],
  ) {}

  /** Bootstrap servers of the running nodes. */
  /** The node JVMs' pids (for a supervisor's run lock). */
  get pids(): number[] {
    return [...this.processes.values()].flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
  }

  get brokers(): string[] {
    return this.nodes.map((n) => `localhost:${n.port}`);
  }

  static async start(options: LocalKafkaOptions): Promise<LocalKafka> {
    const env = options.env ?? process.env;
    const opts = {
      nodes: 1 as const,
      port: 9092,
      readyTimeoutMs: 90_000,
      heapOpts: env.KAFKA_HEAP_OPTS ?? (options.nodes === 3 ? '-Xms128m -Xmx512m' : '-Xms256m -Xmx1g'),
      ...options,
      env,
    };
    await checkJava(env);
    const root = path.join(opts.dataDir, opts.nodes === 1 ? 'kafka' : 'kafka-cluster');
    const nodes: NodeSpec[] = Array.from({ length: opts.nodes }, (_, i) => ({
      id: i + 1,
      port: opts.port + 2 * i,
      controllerPort: opts.port + 2 * i + 1,
      dir: path.join(root, `node-${i + 1}`),
      propsFile: path.join(root, `node-${i + 1}.properties`),
      logFile: path.join(root, `node-${i + 1}.log`),
    }));
    for (const n of nodes) {
      await assertPortFree(n.port, `Kafka node ${n.id} client listener`);
      await assertPortFree(n.controllerPort, `Kafka node ${n.id} controller listener`);
    }
    const classpath = await kafkaClasspath(opts.mavenRepo, opts.logger, opts.env);
    await mkdir(root, { recursive: true });
    await writeFile(path.join(root, 'log4j2.properties'), LOG4J2_CONFIG);
    const cluster = new LocalKafka(opts, classpath, nodes);
    // If this process exits without stop() (an error, process.exit), take the JVMs along.
    process.once('exit', () => { for (const child of cluster.processes.values()) child.kill('SIGTERM'); });
    await cluster.formatIfNeeded(root);
    for (const n of nodes) cluster.spawnNode(n);
    await cluster.waitReady();
    return cluster;
  }

  private async formatIfNeeded(root: string): Promise<void> {
    const clusterIdFile = path.join(root, 'cluster.id');
    const clusterId = existsSync(clusterIdFile) ? (await readFile(clusterIdFile, 'utf8')).trim() : kafkaUuid();
    await writeFile(clusterIdFile, clusterId);
    for (const n of this.nodes) {
      await writeFile(n.propsFile, this.serverProperties(n));
      if (existsSync(path.join(n.dir, 'meta.properties'))) continue;
      // One node: a dynamic quorum of itself (--standalone). Three: the static voter set
      // in controller.quorum.voters, which format takes without extra flags.
      const args = ['format', `--cluster-id=${clusterId}`, '-c', n.propsFile, ...(this.nodes.length === 1 ? ['--standalone'] : [])];
      this.opts.logger.info({ node: n.id, dir: n.dir }, 'kafka.storage.format');
      await run('java', [...this.jvmArgs(), 'kafka.tools.StorageTool', ...args], { env: this.opts.env });
    }
  }

  private jvmArgs(heap = '-Xmx256m'): string[] {
    return [
      ...heap.split(/\s+/).filter(Boolean),
      '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${path.join(path.dirname(this.nodes[0]!.propsFile), 'log4j2.properties')}`,
      '-cp', this.classpath,
    ];
  }

  private serverProperties(n: NodeSpec): string {
    const replicas = Math.min(3, this.nodes.length);
    const quorum = this.nodes.length === 1
      ? `controller.quorum.bootstrap.servers=localhost:${n.controllerPort}`
      : `controller.quorum.voters=${this.nodes.map((m) => `${m.id}@localhost:${m.controllerPort}`).join(',')}`;
    return [
      'process.roles=broker,controller',
      `node.id=${n.id}`,
      quorum,
      `listeners=PLAINTEXT://localhost:${n.port},CONTROLLER://localhost:${n.controllerPort}`,
      `advertised.listeners=PLAINTEXT://localhost:${n.port},CONTROLLER://localhost:${n.controllerPort}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${n.dir}`,
      // Topics are created on purpose (platform/kafka/topics.ts), never by a typo.
      'auto.create.topics.enable=false',
      `default.replication.factor=${replicas}`,
      `min.insync.replicas=${replicas >= 3 ? 2 : 1}`,
      `offsets.topic.replication.factor=${replicas}`,
      'offsets.topic.num.partitions=6',
      `transaction.state.log.replication.factor=${replicas}`,
      `transaction.state.log.min.isr=${replicas >= 3 ? 2 : 1}`,
      `share.coordinator.state.topic.replication.factor=${replicas}`,
      `share.coordinator.state.topic.min.isr=${replicas >= 3 ? 2 : 1}`,
      // A single developer machine: no reason to wait for more members before the first rebalance.
      'group.initial.rebalance.delay.ms=0',
      'log.retention.hours=168',
      '',
    ].join('\n');
  }

  private spawnNode(n: NodeSpec): void {
    const log = createWriteStream(n.logFile, { flags: 'a' });
    // Its own process group: Ctrl-C in a terminal reaches `tributary start` alone, which stops
    // the stages first and the broker last (they need it to shut down cleanly).
    const child = spawn('java', [...this.jvmArgs(this.opts.heapOpts), 'kafka.Kafka', n.propsFile], {
      stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: this.opts.env,
    });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    tether(child); // the JVM goes with this process, however it ends (no broker left holding the ports)
    child.on('exit', (code, signal) => {
      if (this.processes.get(n.id) === child) this.processes.delete(n.id);
      this.opts.logger.info({ node: n.id, code, signal }, 'kafka.node.exit');
    });
    this.processes.set(n.id, child);
    this.opts.logger.info({ node: n.id, pid: child.pid, port: n.port }, 'kafka.node.started');
  }

  /** Ready means a kafkajs admin call sees every node as a broker. */
  private async waitReady(): Promise<void> {
    const deadline = Date.now() + this.opts.readyTimeoutMs;
    for (;;) {
      const dead = this.nodes.find((n) => !this.processes.has(n.id));
      if (dead) throw new Error(`Kafka node ${dead.id} exited during start-up; see ${dead.logFile}: ${await tail(dead.logFile)}`);
      if ((await countBrokers(this.brokers).catch(() => 0)) === this.nodes.length) {
        this.opts.logger.info({ brokers: this.brokers }, 'kafka.ready');
        return;
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`Kafka did not become ready within ${this.opts.readyTimeoutMs} ms; see ${this.nodes[0]!.logFile}`);
      }
      await sleep(250);
    }
  }

  /** SIGKILLs one node (fault tests). */
  kill(nodeId: number): Promise<void> {
    return this.stopNode(nodeId, 'SIGKILL');
  }

  /** Starts a node that was stopped or killed, and waits until the cluster has all nodes again. */
  async restart(nodeId: number): Promise<void> {
    const n = this.nodes.find((m) => m.id === nodeId);
    if (!n) throw new RangeError(`no Kafka node ${nodeId}`);
    if (this.processes.has(nodeId)) await this.stopNode(nodeId, 'SIGTERM');
    this.spawnNode(n);
    await this.waitReady();
  }

  /** Controlled shutdown of every node (SIGTERM, then SIGKILL after 30 s). */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.stopNode(n.id, 'SIGTERM')));
  }

  private async stopNode(nodeId: number, signal: NodeJS.Signals): Promise<void> {
    const child = this.processes.get(nodeId);
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * A Kafka cluster id: 16 random bytes, URL-safe base64 without padding, never starting with
 * '-' (command-line parsers would take it for an option).
 * @see org.apache.kafka.common.Uuid#randomUuid
 */
function kafkaUuid(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

async function tail(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '(no log)';
  }
}

// The broker's own log goes to its node log file; WARN and above only, to keep it readable.
const LOG4J2_CONFIG = `status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka.server.KafkaRaftServer
logger.kafka.level = INFO
`;

/** Starts a LocalKafka on ports the OS reports free (node i needs port+2i and port+2i+1). */
export async function startOnFreePorts(opts: Omit<LocalKafkaOptions, 'port'>): Promise<LocalKafka> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    if (port > 65000) continue;
    try {
      return await LocalKafka.start({ ...opts, port });
    } catch (err) {
      if (!(err instanceof PortInUseError) || attempt >= 10) throw err;
    }
  }
}
