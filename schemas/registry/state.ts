import type { CompatibilityLevel, Mode } from './errors';

/**
 * The registry's state as a fold over its log (the compacted `_schemas` topic). Records use the
 * key and value shapes of Confluent Schema Registry's own `_schemas` topic: a key is
 * `{keytype: SCHEMA, subject, version}`, `{keytype: CONFIG|MODE, subject|null}`, a value the whole
 * state of that key, or null (a tombstone) for a hard delete. Applying a record twice changes
 * nothing, so a writer may apply its own writes at once and again when it reads them back.
 */
export type SchemaKey = { keytype: 'SCHEMA'; subject: string; version: number; magic: 1 };
export type ConfigKey = { keytype: 'CONFIG'; subject: string | null; magic: 0 };
export type SchemaValue = { subject: string; version: number; id: number; schema: string; deleted: boolean };
export type ConfigValue = { compatibilityLevel: CompatibilityLevel };
export type ModeKey = { keytype: 'MODE'; subject: string | null; magic: 0 };
export type ModeValue = { mode: Mode };
export type LogRecord =
  | { key: SchemaKey; value: SchemaValue | null }
  | { key: ConfigKey; value: ConfigValue | null }
  | { key: ModeKey; value: ModeValue | null };

export interface VersionEntry {
  version: number;
  id: number;
  schema: string;
  deleted: boolean;
}

export class RegistryState {
  readonly subjects = new Map<string, Map<number, VersionEntry>>();
  readonly configs = new Map<string | null, CompatibilityLevel>();
  /** READWRITE unless set: null is the global mode. */
  readonly modes = new Map<string | null, Mode>();
  /** Highest id ever seen in the log, so ids are never reused. */
  maxId = 0;

  apply(record: LogRecord): void {
    if (record.key.keytype === 'MODE') {
      const value = record.value as ModeValue | null;
      if (value) this.modes.set(record.key.subject, value.mode);
      else this.modes.delete(record.key.subject);
      return;
    }
    if (record.key.keytype === 'CONFIG') {
      const value = record.value as ConfigValue | null;
      if (value) this.configs.set(record.key.subject, value.compatibilityLevel);
      else this.configs.delete(record.key.subject);
      return;
    }
    const { subject, version } = record.key;
    const value = record.value as SchemaValue | null;
    let versions = this.subjects.get(subject);
    if (value) {
      if (!versions) this.subjects.set(subject, (versions = new Map()));
      versions.set(version, { version, id: value.id, schema: value.schema, deleted: value.deleted });
      this.maxId = Math.max(this.maxId, value.id);
    } else if (versions) {
      versions.delete(version);
      if (versions.size === 0) this.subjects.delete(subject);
    }
  }

  /** Versions of a subject, oldest first; soft-deleted ones only when asked. */
  versions(subject: string, includeDeleted = false): VersionEntry[] {
    const all = [...(this.subjects.get(subject)?.values() ?? [])].sort((a, b) => a.version - b.version);
    return includeDeleted ? all : all.filter((v) => !v.deleted);
  }

  /** The schema text of an id, from any version that still holds it (soft-deleted included). */
  schemaById(id: number): string | undefined {
    for (const versions of this.subjects.values()) {
      for (const v of versions.values()) if (v.id === id) return v.schema;
    }
    return undefined;
  }

  /** The id an identical (canonical) schema already has anywhere in the registry. */
  idOfSchema(canonical: string): number | undefined {
    for (const versions of this.subjects.values()) {
      for (const v of versions.values()) if (v.schema === canonical) return v.id;
    }
    return undefined;
  }

  usagesOf(id: number): Array<{ subject: string; version: number }> {
    const out: Array<{ subject: string; version: number }> = [];
    for (const [subject, versions] of this.subjects) {
      for (const v of versions.values()) if (v.id === id && !v.deleted) out.push({ subject, version: v.version });
    }
    return out.sort((a, b) => a.subject.localeCompare(b.subject) || a.version - b.version);
  }
}
