import type { Logger } from '../platform/logger';

/**
 * Runs `stop` once on the first SIGINT or SIGTERM, then exits; a second signal exits at once.
 * Stages register their stops in start order; they run in reverse.
 */
export function onShutdown(logger: Logger, ...stops: Array<() => Promise<void>>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    logger.info({ signal }, 'shutdown.start');
    (async () => {
      for (const stop of [...stops].reverse()) await stop();
    })().then(
      () => { logger.info('shutdown.done'); process.exit(0); },
      (err: unknown) => { logger.error({ err }, 'shutdown.failed'); process.exit(1); },
    );
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}
