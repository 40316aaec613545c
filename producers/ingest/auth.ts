import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writePrivateFile } from '../../platform/local/data-dir';
import path from 'node:path';
import type { Config } from '../../platform/config';
import { TributaryError } from '../../platform/errors';

export interface WriteAuth {
  /** null: auth is off. */
  keys: string[] | null;
  /** The generated development key, when one is in use (printed at start). */
  developmentKey?: string;
}

/**
 * Write keys come from WRITE_KEYS. On the local broker without them, a development key is made
 * once and kept in DATA_DIR/write-key. On an external Kafka without WRITE_KEYS, ingest refuses
 * to start unless INGEST_AUTH=off says so on purpose.
 */
export function resolveWriteAuth(config: Config): WriteAuth {
  if (config.ingest.authOff) return { keys: null };
  if (config.ingest.writeKeys.length > 0) return { keys: config.ingest.writeKeys };
  if (!config.kafka.local) {
    throw new TributaryError(
      'config',
      'WRITE_KEYS is not set and KAFKA_BROKERS points at an external cluster: set WRITE_KEYS=key1,key2, or INGEST_AUTH=off to accept unauthenticated events',
    );
  }
  const file = path.join(config.dataDir, 'write-key');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    writePrivateFile(file, `dev_${randomBytes(18).toString('base64url')}\n`);
  }
  const key = readFileSync(file, 'utf8').trim();
  return { keys: [key], developmentKey: key };
}

/**
 * How a banner names the development write key: the key itself on a terminal; where it is kept
 * otherwise, so that it never lands in a log file or a log collector.
 */
export function writeKeyBanner(auth: WriteAuth, dataDir: string, terminal: boolean): string {
  if (!auth.developmentKey) return '';
  return terminal ? `write key: ${auth.developmentKey}` : `write key: in ${path.join(dataDir, 'write-key')}`;
}
