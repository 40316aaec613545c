import { processContext } from '../../cli/context';
import { runStage } from '../../cli/stage';
import { startSinkStage } from '../../cli/stages';
import { faultyClickHouse } from '../faulty-clickhouse';

/**
 * `tributary sink` with a fault injector between it and ClickHouse, for the fault suite:
 * SIGUSR2 makes ClickHouse unavailable, the next SIGUSR2 restores it. The real engine and the
 * real sink otherwise; the switch lives here, not in the sink's code path.
 */
void runStage(processContext(), 'sink', (deps) =>
  startSinkStage(deps, (client) => {
    const faulty = faultyClickHouse(client);
    process.on('SIGUSR2', () => {
      faulty.down = !faulty.down;
      deps.logger.warn({ down: faulty.down }, 'sink.fault.clickhouse');
    });
    return faulty;
  }),
).catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
