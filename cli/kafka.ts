import path from 'node:path';
import { Command } from 'commander';
import { loadConfig } from './config';
import { createLogger } from '../platform/logger';
import { LocalKafka, localKafkaRoot } from '../platform/local/kafka';
import { acquireRunLock } from '../platform/local/run-lock';
import { checkJava } from '../platform/local/maven';
import { prepareDataDir } from '../platform/local/data-dir';
import { connectAdmin, createKafka } from '../platform/kafka/client';
import { ensureTopics, pipelineTopics } from '../platform/kafka/topics';
import { intOption } from './options';
import { onShutdown } from './shutdown';
import type { CliContext } from './context';
import { TributaryError } from '../platform/errors';

export function kafkaCommand(ctx: CliContext): Command {
  return new Command('kafka')
    .summary('run a local Apache Kafka 4 broker (KRaft) with the pipeline topics')
    .description(
      'Starts a real Kafka broker (or a 3-node cluster with --nodes 3) as child JVMs, jars from Maven Central, data under DATA_DIR, and creates the pipeline topics. Stops cleanly on Ctrl-C.',
    )
    .option(
      '--nodes <n>',
      'number of broker+controller nodes: 1, or 3 for fault tests (replication 3, min.insync.replicas 2)',
      intOption('--nodes', 1, 3),
      1,
    )
    .option(
      '--port <port>',
      'client port of node 1; node i uses port+2i, its controller port+2i+1',
      intOption('--port', 1024, 65534),
      9092,
    )
    .option('--no-topics', 'do not create the pipeline topics')
    .option(
      '--secure',
      'TLS and SASL/SCRAM on the client listener: a keytool certificate and SCRAM users under DATA_DIR/kafka/secure (user KAFKA_SASL_USERNAME, default tributary; password KAFKA_SASL_PASSWORD, default generated); the client settings are written to DATA_DIR/kafka/secure/client.env',
    )
    .action(async (opts: { nodes: number; port: number; topics: boolean; secure?: boolean }) => {
      if (opts.nodes !== 1 && opts.nodes !== 3) throw new TributaryError('invalid_input', '--nodes must be 1 or 3');
      if (opts.port + 2 * opts.nodes - 1 > 65535)
        throw new TributaryError(
          'invalid_input',
          `--port ${opts.port}: ${opts.nodes} node(s) need ports ${opts.port} to ${opts.port + 2 * opts.nodes - 1}, past 65535`,
        );
      const config = loadConfig(ctx.env);
      const logger = createLogger(config.logLevel, 'kafka', config.logFormat);
      await checkJava(ctx.env); // before anything is written under DATA_DIR
      prepareDataDir(config.dataDir, config.dataDirMinFreeBytes);
      // The broker's own directory is locked, not DATA_DIR: `tributary start` may run beside it on
      // the same DATA_DIR against this broker (KAFKA_BROKERS), not start one of its own there.
      const lock = await acquireRunLock(localKafkaRoot(config.dataDir, opts.nodes as 1 | 3), 'kafka');
      if (lock.stoppedLeftovers.length > 0)
        ctx.err(
          `tributary: stopped what an earlier run on ${config.dataDir} left running: ${lock.stoppedLeftovers.join('; ')}\n`,
        );
      const broker = await LocalKafka.start({
        dataDir: config.dataDir,
        mavenRepo: path.join(config.dataDir, 'maven'),
        logger,
        nodes: opts.nodes as 1 | 3,
        port: opts.port,
        env: ctx.env,
        secure: opts.secure ? { user: config.kafka.sasl?.username, password: config.kafka.sasl?.password } : undefined,
      }).catch((err: unknown) => {
        lock.release();
        throw err;
      });
      broker.pids.forEach((pid) => lock.addChild(pid));
      onShutdown(logger, async () => {
        await broker.stop();
        lock.release();
      });
      if (opts.topics) {
        const security = broker.security ? { ssl: true, sslCa: broker.security.sslCa, sasl: broker.security.sasl } : {};
        const admin = await connectAdmin(
          createKafka({
            config: { ...config.kafka, brokers: broker.brokers, ...security },
            logger,
            clientId: 'tributary-kafka',
          }),
        );
        try {
          await ensureTopics(
            admin,
            pipelineTopics(config.kafka.eventPartitions, config.topics, config.kafka.eventRetentionMs),
            logger,
            config.kafka.replicationFactor,
          );
        } finally {
          await admin.disconnect();
        }
      }
      ctx.out(
        `Kafka ${opts.nodes === 1 ? 'broker' : 'cluster'} ready: KAFKA_BROKERS=${broker.brokers.join(',')} (Ctrl-C to stop)\n`,
      );
      if (broker.security) {
        ctx.out(
          `TLS + SASL/SCRAM (${broker.security.sasl.mechanism}, user ${broker.security.sasl.username}); the clients' settings are in ${broker.security.envFile}:\n  set -a; . ${broker.security.envFile}; set +a\n`,
        );
      }
    });
}
