import type { Logger } from '../platform/logger';

/**
 * Runs `stop` once on the first SIGINT or SIGTERM, then exits; a second signal exits at once.
 * The stop undoes what the stage started, in reverse order (RunningStage.stop).
 */
export function onShutdown(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    logger.info({ signal }, 'shutdown.start');
    stop().then(
      () => {
        logger.info('shutdown.done');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown.failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}
