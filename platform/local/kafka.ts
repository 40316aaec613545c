import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../logger';
import { countBrokers } from '../kafka/client';
import { PortInUseError, assertPortFree, freeRestartablePorts } from './ports';
import { checkJava, kafkaClasspath } from './maven';
import { sleep } from '../retry';
import { tether } from './tether';
import { TributaryError } from '../errors';

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
  /**
   * TLS and SASL/SCRAM instead of PLAINTEXT on the client listener (`tributary kafka --secure`):
   * a certificate made with the JDK's keytool and SCRAM users written at format time by Kafka's
   * own storage tool, all under DATA_DIR/kafka/secure. `user`/`password` (default: `tributary`
   * and a generated password, kept there) are what clients log in with.
   */
  secure?: { user?: string; password?: string };
  /**
   * Where each node runs, one entry per node: the address it listens on and advertises (default
   * loopback), and the command its JVM is started through (e.g. `['ip', 'netns', 'exec', 'h1']`
   * for a network namespace; it must exec the JVM, so that signals reach it). Ports are then
   * not checked here: they belong to another network.
   */
  placement?: { address: string; launcher: string[] }[];
}

/** What a client of a secured local broker sets: KAFKA_SSL_CA_FILE and KAFKA_SASL_*. */
export interface LocalKafkaSecurity {
  caFile: string;
  sslCa: string;
  sasl: { mechanism: 'scram-sha-256'; username: string; password: string };
  /** The file holding these settings as environment lines (0600). */
  envFile: string;
}

interface NodeSpec {
  id: number;
  /** Listen address, and the name clients and the quorum reach it by. */
  listen: string;
  advertise: string;
  launcher: string[];
  port: number;
  controllerPort: number;
  dir: string;
  propsFile: string;
  logFile: string;
}

/**
 * Where a local broker (or 3-node cluster) keeps its data under DATA_DIR. Whoever runs it holds
 * the run lock of this directory, so `tributary start` can use DATA_DIR beside a
 * `tributary kafka` that runs there, as long as it does not start a broker of its own.
 */
export function localKafkaRoot(dataDir: string, nodes: 1 | 3): string {
  return path.join(dataDir, nodes === 1 ? 'kafka' : 'kafka-cluster');
}

export class LocalKafka {
  private readonly processes = new Map<number, ChildProcess>();
  /** Set when the broker runs TLS + SASL/SCRAM: how clients connect. */
  security: LocalKafkaSecurity | undefined;
  private brokerSecrets: { storePassword: string; brokerPassword: string } | undefined;

  private constructor(
    private readonly opts: Required<Omit<LocalKafkaOptions, 'heapOpts' | 'secure' | 'placement'>> & {
      heapOpts: string;
      secure: LocalKafkaOptions['secure'];
    },
    private readonly classpath: string,
    private readonly nodes: NodeSpec[],
  ) {}

  /** The node JVMs' pids (for a supervisor's run lock). */
  get pids(): number[] {
    return [...this.processes.values()].flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
  }

  /** Bootstrap servers of the running nodes. */
  get brokers(): string[] {
    return this.nodes.map((n) => `${n.advertise}:${n.port}`);
  }

  static async start(options: LocalKafkaOptions): Promise<LocalKafka> {
    const env = options.env ?? process.env;
    const opts = {
      nodes: 1 as const,
      port: 9092,
      readyTimeoutMs: 90_000,
      heapOpts: env.KAFKA_HEAP_OPTS ?? (options.nodes === 3 ? '-Xms128m -Xmx512m' : '-Xms256m -Xmx1g'),
      secure: undefined,
      ...options,
      env,
    };
    if (opts.secure && opts.nodes !== 1) throw new RangeError('a secured local broker is one node');
    if (opts.placement && opts.placement.length !== opts.nodes)
      throw new RangeError(`placement names ${opts.placement.length} places for ${opts.nodes} nodes`);
    await checkJava(env);
    const root = localKafkaRoot(opts.dataDir, opts.nodes ?? 1);
    const nodes: NodeSpec[] = Array.from({ length: opts.nodes }, (_, i) => ({
      id: i + 1,
      listen: opts.placement?.[i]?.address ?? '127.0.0.1',
      advertise: opts.placement?.[i]?.address ?? 'localhost',
      launcher: opts.placement?.[i]?.launcher ?? [],
      port: opts.port + 2 * i,
      controllerPort: opts.port + 2 * i + 1,
      dir: path.join(root, `node-${i + 1}`),
      propsFile: path.join(root, `node-${i + 1}.properties`),
      logFile: path.join(root, `node-${i + 1}.log`),
    }));
    for (const n of opts.placement ? [] : nodes) {
      await assertPortFree(n.port, `Kafka node ${n.id} client listener`);
      await assertPortFree(n.controllerPort, `Kafka node ${n.id} controller listener`);
    }
    const classpath = await kafkaClasspath(opts.mavenRepo, opts.logger, opts.env);
    await mkdir(root, { recursive: true });
    await writeFile(path.join(root, 'log4j2.properties'), LOG4J2_CONFIG);
    const cluster = new LocalKafka(opts, classpath, nodes);
    // If this process exits without stop() (an error, process.exit), take the JVMs along.
    process.once('exit', () => {
      for (const child of cluster.processes.values()) child.kill('SIGTERM');
    });
    await cluster.checkListenerKind(root);
    if (opts.secure) await cluster.prepareSecurity(path.join(root, 'secure'), opts.secure);
    await cluster.formatIfNeeded(root);
    for (const n of nodes) cluster.spawnNode(n);
    await cluster.waitReady();
    return cluster;
  }

  /**
   * A broker's SCRAM users are written when its storage is formatted, so a data dir stays what
   * it was first started as (plain or secure): say so rather than fail to log in.
   */
  private async checkListenerKind(root: string): Promise<void> {
    const file = path.join(root, 'listener');
    const wanted = this.opts.secure ? 'SASL_SSL' : 'PLAINTEXT';
    const formatted = this.nodes.some((n) => existsSync(path.join(n.dir, 'meta.properties')));
    const was = existsSync(file) ? (await readFile(file, 'utf8')).trim() : formatted ? 'PLAINTEXT' : wanted;
    if (was !== wanted) {
      throw new TributaryError(
        'data_dir',
        `the broker in ${root} was first started with ${was} listeners; it cannot switch to ${wanted} (its SCRAM users are written at format time): use another DATA_DIR, or remove ${root}`,
      );
    }
    await writeFile(file, wanted);
  }

  /**
   * The certificate (RSA 2048, CN and SAN localhost/127.0.0.1, 10 years, PKCS12) and the
   * broker's and the client's SCRAM passwords, made once and kept (0600) under `dir`.
   */
  private async prepareSecurity(dir: string, wanted: NonNullable<LocalKafkaOptions['secure']>): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const secretsFile = path.join(dir, 'secrets.json');
    let secrets: { storePassword: string; brokerPassword: string; user: string; password: string };
    if (existsSync(secretsFile)) {
      secrets = JSON.parse(await readFile(secretsFile, 'utf8')) as typeof secrets;
      if ((wanted.user && wanted.user !== secrets.user) || (wanted.password && wanted.password !== secrets.password)) {
        throw new TributaryError(
          'data_dir',
          `the secured broker in ${dir} was formatted for user ${secrets.user} with another password: use those (see ${path.join(dir, 'client.env')}), or remove ${path.dirname(dir)}`,
        );
      }
    } else {
      const secret = () => randomBytes(18).toString('base64url');
      secrets = {
        storePassword: secret(),
        brokerPassword: secret(),
        user: wanted.user ?? 'tributary',
        password: wanted.password ?? secret(),
      };
      await writeFile(secretsFile, JSON.stringify(secrets), { mode: 0o600 });
    }
    const keystore = path.join(dir, 'broker.p12');
    const truststore = path.join(dir, 'truststore.p12');
    const caFile = path.join(dir, 'ca.pem');
    if (!existsSync(truststore)) {
      // The password reaches keytool in its environment (-storepass:env), never on its argv.
      const keytool = (args: string[]) =>
        run('keytool', args, {
          env: { ...(this.opts.env ?? process.env), TRIBUTARY_STORE_PASSWORD: secrets.storePassword },
        });
      const store = ['-storetype', 'PKCS12', '-storepass:env', 'TRIBUTARY_STORE_PASSWORD'];
      await keytool([
        '-genkeypair',
        '-noprompt',
        '-alias',
        'broker',
        '-keyalg',
        'RSA',
        '-keysize',
        '2048',
        '-validity',
        '3650',
        '-dname',
        'CN=localhost',
        '-ext',
        'SAN=dns:localhost,ip:127.0.0.1',
        '-keystore',
        keystore,
        ...store,
        '-keypass:env',
        'TRIBUTARY_STORE_PASSWORD',
      ]);
      await keytool(['-exportcert', '-rfc', '-alias', 'broker', '-keystore', keystore, ...store, '-file', caFile]);
      // The broker is its own client (inter-broker listener): it trusts its certificate too.
      await keytool([
        '-importcert',
        '-noprompt',
        '-alias',
        'broker',
        '-file',
        caFile,
        '-keystore',
        truststore,
        ...store,
      ]);
    }
    // keytool writes with the umask (0644 usually): the stores are this user's alone, like the
    // secrets (also for a directory made before they were). The certificate (ca.pem) is public.
    for (const store of [keystore, truststore]) await chmod(store, 0o600);
    const envFile = path.join(dir, 'client.env');
    const sasl = { mechanism: 'scram-sha-256' as const, username: secrets.user, password: secrets.password };
    await writeFile(
      envFile,
      [
        `KAFKA_BROKERS=${this.brokers.join(',')}`,
        'KAFKA_SSL=true',
        `KAFKA_SSL_CA_FILE=${caFile}`,
        'KAFKA_SASL_MECHANISM=scram-sha-256',
        `KAFKA_SASL_USERNAME=${secrets.user}`,
        `KAFKA_SASL_PASSWORD=${secrets.password}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    this.brokerSecrets = { storePassword: secrets.storePassword, brokerPassword: secrets.brokerPassword };
    this.security = { caFile, sslCa: await readFile(caFile, 'utf8'), sasl, envFile };
  }

  private async formatIfNeeded(root: string): Promise<void> {
    const clusterIdFile = path.join(root, 'cluster.id');
    const clusterId = existsSync(clusterIdFile) ? (await readFile(clusterIdFile, 'utf8')).trim() : kafkaUuid();
    await writeFile(clusterIdFile, clusterId);
    for (const n of this.nodes) {
      // It may hold the keystore's and the broker's passwords: this user's alone.
      await writeFile(n.propsFile, this.serverProperties(n), { mode: 0o600 });
      await chmod(n.propsFile, 0o600);
      if (existsSync(path.join(n.dir, 'meta.properties'))) continue;
      // One node: a dynamic quorum of itself (--standalone). Three: the static voter set
      // in controller.quorum.voters, which format takes without extra flags.
      const args = [
        'format',
        `--cluster-id=${clusterId}`,
        '-c',
        n.propsFile,
        ...(this.nodes.length === 1 ? ['--standalone'] : []),
        ...this.scramUsers(),
      ];
      this.opts.logger.info({ node: n.id, dir: n.dir }, 'kafka.storage.format');
      // Through a java @argfile (0600, removed after): SCRAM passwords never show on a command line.
      const argFile = path.join(root, `format-${n.id}.args`);
      await writeFile(argFile, [...this.jvmArgs(), 'kafka.tools.StorageTool', ...args].map(argFileQuote).join('\n'), {
        mode: 0o600,
      });
      try {
        await run('java', [`@${argFile}`], { env: this.opts.env });
      } finally {
        await rm(argFile, { force: true });
      }
    }
  }

  /** Kafka's storage tool writes SCRAM credentials into the first metadata (KRaft has no ZooKeeper to hold them). */
  private scramUsers(): string[] {
    if (!this.security || !this.brokerSecrets) return [];
    const { username, password } = this.security.sasl;
    return [
      '--add-scram',
      `SCRAM-SHA-256=[name=broker,password=${this.brokerSecrets.brokerPassword}]`,
      '--add-scram',
      `SCRAM-SHA-256=[name=${username},password=${password}]`,
      '--add-scram',
      `SCRAM-SHA-512=[name=${username},password=${password}]`,
    ];
  }

  private jvmArgs(heap = '-Xmx256m'): string[] {
    return [
      ...heap.split(/\s+/).filter(Boolean),
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${path.join(path.dirname(this.nodes[0]!.propsFile), 'log4j2.properties')}`,
      '-cp',
      this.classpath,
    ];
  }

  private serverProperties(n: NodeSpec): string {
    const replicas = Math.min(3, this.nodes.length);
    const quorum =
      this.nodes.length === 1
        ? `controller.quorum.bootstrap.servers=localhost:${n.controllerPort}`
        : `controller.quorum.voters=${this.nodes.map((m) => `${m.id}@${m.advertise}:${m.controllerPort}`).join(',')}`;
    const client = this.opts.secure ? 'SASL_SSL' : 'PLAINTEXT';
    return [
      'process.roles=broker,controller',
      `node.id=${n.id}`,
      quorum,
      // Loopback unless placed: a local broker is for this machine (open a real cluster to a network).
      `listeners=${client}://${n.listen}:${n.port},CONTROLLER://${n.listen}:${n.controllerPort}`,
      `advertised.listeners=${client}://${n.advertise}:${n.port},CONTROLLER://${n.advertise}:${n.controllerPort}`,
      'controller.listener.names=CONTROLLER',
      `inter.broker.listener.name=${client}`,
      `listener.security.protocol.map=CONTROLLER:PLAINTEXT,${client}:${client}`,
      ...this.secureProperties(),
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

  /** TLS with the keytool certificate, SCRAM for clients and for the broker itself. */
  private secureProperties(): string[] {
    if (!this.security || !this.brokerSecrets) return [];
    const dir = path.dirname(this.security.caFile);
    const pw = this.brokerSecrets.storePassword;
    return [
      'sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512',
      'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256',
      ...['scram-sha-256', 'scram-sha-512'].map(
        (m) =>
          `listener.name.sasl_ssl.${m}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="${this.brokerSecrets!.brokerPassword}";`,
      ),
      `ssl.keystore.location=${path.join(dir, 'broker.p12')}`,
      'ssl.keystore.type=PKCS12',
      `ssl.keystore.password=${pw}`,
      `ssl.key.password=${pw}`,
      `ssl.truststore.location=${path.join(dir, 'truststore.p12')}`,
      'ssl.truststore.type=PKCS12',
      `ssl.truststore.password=${pw}`,
      'ssl.enabled.protocols=TLSv1.3,TLSv1.2',
    ];
  }

  private spawnNode(n: NodeSpec): void {
    const log = createWriteStream(n.logFile, { flags: 'a' });
    // Its own process group: Ctrl-C in a terminal reaches `tributary start` alone, which stops
    // the stages first and the broker last (they need it to shut down cleanly).
    const command = [...n.launcher, 'java', ...this.jvmArgs(this.opts.heapOpts), 'kafka.Kafka', n.propsFile];
    const child = spawn(command[0]!, command.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: this.opts.env,
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
      if (dead)
        throw new TributaryError(
          'start_failed',
          `Kafka node ${dead.id} exited during start-up; see ${dead.logFile}: ${await tail(dead.logFile)}`,
        );
      const security = this.security && { sslCa: this.security.sslCa, sasl: this.security.sasl };
      if ((await countBrokers(this.brokers, security).catch(() => 0)) === this.nodes.length) {
        this.opts.logger.info({ brokers: this.brokers }, 'kafka.ready');
        return;
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new TributaryError(
          'start_failed',
          `Kafka did not become ready within ${this.opts.readyTimeoutMs} ms; see ${this.nodes[0]!.logFile}`,
        );
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

/** One argument of a java @argfile: quoted, with backslashes and quotes escaped. */
function argFileQuote(arg: string): string {
  return `"${arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
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

/**
 * Starts a LocalKafka on free ports (node i needs port+2i and port+2i+1) outside the ephemeral
 * range, so that a test may stop it and start it again on the same ports.
 */
export async function startOnFreePorts(opts: Omit<LocalKafkaOptions, 'port'>): Promise<LocalKafka> {
  for (let attempt = 0; ; attempt++) {
    const port = await freeRestartablePorts(2 * (opts.nodes ?? 1));
    try {
      return await LocalKafka.start({ ...opts, port });
    } catch (err) {
      if (!(err instanceof PortInUseError) || attempt >= 10) throw err;
    }
  }
}
