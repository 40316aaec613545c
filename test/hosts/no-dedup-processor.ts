import type avro from 'avsc';
import { processContext } from '../../cli/context';
import { runStage } from '../../cli/stage';
import { startProcessorStage } from '../../cli/stages';
import { NOT_CACHED, SchemaClient } from '../../schemas/client';
import type { RecordOutcome } from '../../schemas/outcome';

/**
 * A processor whose duplicate rule sees no duplicates: every record it decodes gets an eventId
 * of its own. `HOSTS_BREAK=dedup npm run test:hosts` runs it on p1 and p2 to show the harness
 * fails when exactness is broken (retried sends and recomputed segments count twice). Injected
 * here, so no switch lives in the processor.
 */
let decoded = 0;

class UniqueIdSchemaClient extends SchemaClient {
  override decodeRecordNow<T>(value: Buffer | null, reader: avro.Type): RecordOutcome<T> | typeof NOT_CACHED {
    const outcome = super.decodeRecordNow<T>(value, reader);
    if (outcome !== NOT_CACHED && outcome.ok && 'eventId' in (outcome.value as object)) {
      const event = outcome.value as unknown as { eventId: string };
      event.eventId = `${event.eventId}~${(decoded += 1)}`;
    }
    return outcome;
  }
}

void runStage(processContext(), 'process', (deps) =>
  startProcessorStage({ ...deps, schemas: new UniqueIdSchemaClient(deps.config.registry.url, deps.logger) }),
).catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
