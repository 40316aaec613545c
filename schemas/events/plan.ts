import type avro from 'avsc';
import { avroTypeOf } from './avro';
import type { EventTypeDeclaration } from './format';

/**
 * The tracking plan of a pipeline: every version of every declared event type, as the
 * declarations topic records them (`event/<type>/<version>`, written by `tributary events
 * apply` once the registry took the schema). Ingest and the bridges validate against the newest
 * version of a type; the processor reads a record by the version whose schema id it carries.
 * A version never changes and is never removed, so a record read again is judged the same.
 */
export interface EventTypeRecord {
  type: string;
  version: number;
  declaration: EventTypeDeclaration;
  /** The registry's id of the version's schema, and the subject it is registered under. */
  schemaId: number;
  subject: string;
  /** The topic events of this type go to. */
  topic: string;
  appliedAt: number;
}

export interface EventTypeVersion {
  record: EventTypeRecord;
  avroType: avro.Type;
}

export const eventTypeKey = (type: string, version: number) => `event/${type}/${version}`;

export class EventPlan {
  private readonly byType = new Map<string, EventTypeVersion[]>();
  private readonly byId = new Map<number, EventTypeVersion>();
  /** Reads the declarations topic to its end now (set by openDeclarations): what was applied before this call is then known. */
  sync: () => Promise<void> = () => Promise.resolve();

  /** One record of the declarations topic; keys of other entries are skipped. */
  apply(key: string, value: unknown): void {
    const m = /^event\/([a-z][a-z0-9_]*)\/(\d+)$/.exec(key);
    if (!m || value === null || typeof value !== 'object') return;
    const record = value as EventTypeRecord;
    const versions = this.byType.get(m[1]!) ?? [];
    if (versions.some((v) => v.record.version === record.version)) return; // a version never changes
    let avroType: avro.Type;
    try {
      avroType = avroTypeOf(record.declaration);
    } catch {
      return; // not a declaration this code can read (written by a newer Tributary?): the type stays unknown
    }
    const version = { record, avroType };
    versions.push(version);
    versions.sort((a, b) => a.record.version - b.record.version);
    this.byType.set(m[1]!, versions);
    if (!this.byId.has(record.schemaId)) this.byId.set(record.schemaId, version);
  }

  /** The newest version of `type`: what ingest validates against. */
  latest(type: string): EventTypeVersion | undefined {
    return this.byType.get(type)?.at(-1);
  }

  versionsOf(type: string): EventTypeVersion[] {
    return this.byType.get(type) ?? [];
  }

  /** The version a record's schema id names (the processor's reading of it). */
  ofSchemaId(id: number): EventTypeVersion | undefined {
    return this.byId.get(id);
  }

  types(): string[] {
    return [...this.byType.keys()].sort();
  }
}
