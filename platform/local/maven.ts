import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../logger';
import { TributaryError } from '../errors';

const run = promisify(execFile);

/** The Maven manifest in kafka/ beside this file: kafka_2.13, kafka-tools and a log4j2 backend. */
export const KAFKA_POM = path.join(__dirname, 'kafka', 'pom.xml');

/** A missing tool the local broker needs; its message is the one line a user reads. */
export class PrerequisiteError extends TributaryError {
  constructor(message: string) {
    super('prerequisite', message);
    this.name = 'PrerequisiteError';
  }
}

const ALTERNATIVES =
  'or set KAFKA_BROKERS=host:port to use an existing Kafka cluster, or run `docker compose up` (docker-compose.yml)';

/** Checks `java` is on the PATH (of `env`) and is version 17 or newer. */
export async function checkJava(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let output: string;
  try {
    const { stderr, stdout } = await run('java', ['-version'], { env });
    output = stderr + stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PrerequisiteError(
        `java not found on PATH: install Java 17+ (e.g. apt-get install openjdk-17-jre-headless), ${ALTERNATIVES}`,
      );
    }
    throw err;
  }
  const match = /version "(?:1\.)?(\d+)/.exec(output);
  const major = match ? Number(match[1]) : NaN;
  if (!(major >= 17)) {
    throw new PrerequisiteError(
      `java ${Number.isNaN(major) ? '(unknown version)' : major} found, Kafka 4 needs Java 17+: install a newer JDK, ${ALTERNATIVES}`,
    );
  }
  return major;
}

/**
 * The classpath of a Maven manifest's dependencies: resolved once by Maven into `mavenRepo`, then
 * cached in a file named after the manifest's hash, so later starts need neither Maven nor the
 * network while the manifest is unchanged. `what` names the jars in errors ("the Kafka jars").
 */
export async function mavenClasspath(
  pomFile: string,
  mavenRepo: string,
  logger: Logger,
  what: string,
  alternatives = ALTERNATIVES,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const pom = await readFile(pomFile);
  const hash = createHash('sha256').update(pom).digest('hex').slice(0, 12);
  const cacheFile = path.join(mavenRepo, `${path.basename(path.dirname(pomFile))}-classpath-${hash}.txt`);
  if (existsSync(cacheFile)) {
    const classpath = (await readFile(cacheFile, 'utf8')).trim();
    if (classpath.split(path.delimiter).every((jar) => existsSync(jar))) return classpath;
  }
  await mkdir(mavenRepo, { recursive: true });
  logger.info({ mavenRepo, pom: pomFile }, 'maven.jars.resolving');
  const outputFile = `${cacheFile}.tmp`;
  try {
    await run(
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        pomFile,
        `-Dmaven.repo.local=${mavenRepo}`,
        'dependency:build-classpath',
        `-Dmdep.outputFile=${outputFile}`,
      ],
      { maxBuffer: 16 * 1024 * 1024, env },
    );
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') {
      throw new PrerequisiteError(
        `mvn not found on PATH: install Maven (e.g. apt-get install maven) to fetch ${what}, ${alternatives}`,
      );
    }
    const tail = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-5).join(' | ');
    throw new PrerequisiteError(`mvn could not fetch ${what} from Maven Central (${tail}), ${alternatives}`);
  }
  const classpath = (await readFile(outputFile, 'utf8')).trim();
  await writeFile(cacheFile, classpath);
  logger.info({ jars: classpath.split(path.delimiter).length }, 'maven.jars.ready');
  return classpath;
}

/** The broker's classpath (kafka_2.13, kafka-tools, log4j2), from the manifest beside this file. */
export function kafkaClasspath(
  mavenRepo: string,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  return mavenClasspath(KAFKA_POM, mavenRepo, logger, 'the Kafka jars', ALTERNATIVES, env);
}
