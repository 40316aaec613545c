import { canonicalSchema, DEFAULT_SCHEMA_COMPLEXITY, isCompatibilityLevel, type SchemaComplexity } from './avro';
import { CompatibilityChecker, DEFAULT_CHECK_TIMEOUT_MS } from './compatibility';
import {
  type CompatibilityLevel,
  type Mode,
  MODES,
  RegistryError,
  incompatible,
  invalidCompatibility,
  invalidMode,
  invalidSchema,
  invalidVersion,
  operationNotPermitted,
  schemaNotFound,
  subjectConfigNotFound,
  subjectModeNotFound,
  subjectNotFound,
  subjectNotSoftDeleted,
  subjectSoftDeleted,
  versionNotFound,
  versionNotSoftDeleted,
  versionSoftDeleted,
} from './errors';
import { RegistryState, type LogRecord, type VersionEntry } from './state';

/** Where the registry's records go: appended durably before the call returns. */
export interface RegistryLog {
  append(records: LogRecord[]): Promise<void>;
}

export interface SubjectVersion {
  subject: string;
  id: number;
  version: number;
  schema: string;
}

const DEFAULT_LEVEL: CompatibilityLevel = 'BACKWARD';

/** What one registry holds and takes at most (a client with write access cannot exhaust it). */
export interface RegistryLimits extends SchemaComplexity {
  maxSubjects: number;
  /** Versions of one subject, soft-deleted ones included (each new version is checked against them). */
  maxVersions: number;
  /** Time budget of one compatibility check. */
  checkTimeoutMs: number;
}

export const DEFAULT_REGISTRY_LIMITS: RegistryLimits = {
  maxSubjects: 1000,
  maxVersions: 1000,
  checkTimeoutMs: DEFAULT_CHECK_TIMEOUT_MS,
  ...DEFAULT_SCHEMA_COMPLEXITY,
};
const MAX_VERSION = 2 ** 31 - 1;

/**
 * Schema Registry operations with Confluent's semantics, over a RegistryState kept current by
 * the log. Writes are serialized: one at a time, each appended to the log and applied before
 * the next starts, so ids and versions are allocated without races within this instance.
 */
export class SchemaRegistryService {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly limits: RegistryLimits;
  private readonly checker: CompatibilityChecker;

  constructor(
    readonly state: RegistryState,
    private readonly log: RegistryLog,
    limits: Partial<RegistryLimits> = {},
  ) {
    this.limits = { ...DEFAULT_REGISTRY_LIMITS, ...limits };
    this.checker = new CompatibilityChecker(this.limits.checkTimeoutMs);
  }

  /** Stops the compatibility checks' worker thread. */
  close(): Promise<void> {
    return this.checker.close();
  }

  /** The mode in force for a subject: its own, else the global one, else READWRITE. */
  modeOf(subject: string | null): Mode {
    return (subject !== null ? this.state.modes.get(subject) : undefined) ?? this.state.modes.get(null) ?? 'READWRITE';
  }

  /** Refuses a change of data or config while the subject (or the registry) is read-only, as Confluent's registry does. */
  private assertWritable(subject: string | null): void {
    if (this.modeOf(subject) === 'READWRITE') return;
    throw operationNotPermitted(
      subject === null ? 'The registry is in read-only mode' : `Subject ${subject} is in read-only mode`,
    );
  }

  mode(subject: string | null, defaultToGlobal = false): { mode: Mode } {
    const own = this.state.modes.get(subject);
    if (own) return { mode: own };
    if (subject !== null && !defaultToGlobal) throw subjectModeNotFound(subject);
    return { mode: this.modeOf(null) };
  }

  /** Mode changes are always allowed (else a read-only registry could never be opened again). */
  setMode(subject: string | null, mode: unknown): Promise<{ mode: Mode }> {
    if (typeof mode !== 'string' || !(MODES as readonly string[]).includes(mode)) throw invalidMode(mode);
    return this.serialized(async () => {
      await this.commit([{ key: { keytype: 'MODE', subject, magic: 0 }, value: { mode: mode as Mode } }]);
      return { mode: mode as Mode };
    });
  }

  deleteMode(subject: string): Promise<{ mode: Mode }> {
    return this.serialized(async () => {
      const own = this.state.modes.get(subject);
      if (!own) throw subjectModeNotFound(subject);
      await this.commit([{ key: { keytype: 'MODE', subject, magic: 0 }, value: null }]);
      return { mode: own };
    });
  }

  private serialized<T>(write: () => Promise<T>): Promise<T> {
    const next = this.queue.then(write, write);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async commit(records: LogRecord[]): Promise<void> {
    await this.log.append(records);
    for (const r of records) this.state.apply(r);
  }

  private parse(schemaText: unknown, schemaType: unknown) {
    return parseSchema(schemaText, schemaType, this.limits);
  }

  compatibilityLevel(subject: string | null): CompatibilityLevel {
    return (
      (subject !== null ? this.state.configs.get(subject) : undefined) ?? this.state.configs.get(null) ?? DEFAULT_LEVEL
    );
  }

  register(subject: string, schemaText: unknown, schemaType?: unknown): Promise<{ id: number }> {
    const { canonical } = this.parse(schemaText, schemaType);
    return this.serialized(async () => {
      const live = this.state.versions(subject);
      const same = live.find((v) => v.schema === canonical);
      if (same) return { id: same.id };
      this.assertWritable(subject);
      if (!this.state.subjects.has(subject) && this.state.subjects.size >= this.limits.maxSubjects) {
        throw operationNotPermitted(
          `This registry holds its maximum of ${this.limits.maxSubjects} subjects (REGISTRY_MAX_SUBJECTS): delete one permanently first`,
        );
      }
      const all = this.state.versions(subject, true);
      if (all.length >= this.limits.maxVersions) {
        throw operationNotPermitted(
          `Subject ${subject} holds its maximum of ${this.limits.maxVersions} versions (REGISTRY_MAX_VERSIONS): delete old versions permanently first`,
        );
      }
      const errors = await this.checker.check(this.compatibilityLevel(subject), canonical, live);
      if (errors.length > 0) throw incompatible(`${subject}: ${errors.join('; ')}`);
      const id = this.state.idOfSchema(canonical) ?? this.state.maxId + 1;
      const version = (all.at(-1)?.version ?? 0) + 1;
      await this.commit([
        {
          key: { keytype: 'SCHEMA', subject, version, magic: 1 },
          value: { subject, version, id, schema: canonical, deleted: false },
        },
      ]);
      return { id };
    });
  }

  lookup(subject: string, schemaText: unknown, schemaType?: unknown, includeDeleted = false): SubjectVersion {
    const { canonical } = this.parse(schemaText, schemaType);
    const versions = this.state.versions(subject, includeDeleted);
    if (versions.length === 0) throw subjectNotFound(subject);
    const match = versions.find((v) => v.schema === canonical);
    if (!match) throw schemaNotFound();
    return { subject, id: match.id, version: match.version, schema: match.schema };
  }

  schemaById(id: number): string {
    const schema = this.state.schemaById(id);
    if (schema === undefined) throw schemaNotFound();
    return schema;
  }

  subjectsOfId(id: number): Array<{ subject: string; version: number }> {
    this.schemaById(id);
    return this.state.usagesOf(id);
  }

  subjects(includeDeleted = false): string[] {
    return [...this.state.subjects.keys()].filter((s) => this.state.versions(s, includeDeleted).length > 0).sort();
  }

  versions(subject: string, includeDeleted = false): number[] {
    const versions = this.state.versions(subject, includeDeleted);
    if (versions.length === 0) throw subjectNotFound(subject);
    return versions.map((v) => v.version);
  }

  version(subject: string, versionParam: string, includeDeleted = false): SubjectVersion {
    const entry = this.resolveVersion(subject, versionParam, includeDeleted);
    return { subject, id: entry.id, version: entry.version, schema: entry.schema };
  }

  private resolveVersion(subject: string, versionParam: string, includeDeleted: boolean): VersionEntry {
    const wanted = parseVersion(versionParam);
    const versions = this.state.versions(subject, includeDeleted);
    if (versions.length === 0) {
      if (this.state.versions(subject, true).length > 0 && wanted !== 'latest') throw versionNotFound(versionParam);
      throw subjectNotFound(subject);
    }
    const entry = wanted === 'latest' ? versions.at(-1) : versions.find((v) => v.version === wanted);
    if (!entry) throw versionNotFound(versionParam);
    return entry;
  }

  /** Compatibility of a candidate with one version (or, without one, with what the level checks). */
  async checkCompatibility(
    subject: string,
    versionParam: string | undefined,
    schemaText: unknown,
    schemaType?: unknown,
  ): Promise<{ is_compatible: boolean; messages: string[] }> {
    const { canonical } = this.parse(schemaText, schemaType);
    const level = this.compatibilityLevel(subject);
    let against: VersionEntry[];
    if (versionParam === undefined) {
      against = this.state.versions(subject);
    } else {
      against = [this.resolveVersion(subject, versionParam, false)];
    }
    const messages = await this.checker.check(
      versionParam === undefined ? level : (level.replace('_TRANSITIVE', '') as CompatibilityLevel),
      canonical,
      against,
    );
    return { is_compatible: messages.length === 0, messages };
  }

  config(subject: string | null, defaultToGlobal = false): { compatibilityLevel: CompatibilityLevel } {
    const own = this.state.configs.get(subject);
    if (own) return { compatibilityLevel: own };
    if (subject !== null && !defaultToGlobal) throw subjectConfigNotFound(subject);
    return { compatibilityLevel: this.compatibilityLevel(null) };
  }

  setConfig(subject: string | null, level: unknown): Promise<{ compatibility: CompatibilityLevel }> {
    if (!isCompatibilityLevel(level)) throw invalidCompatibility(level);
    return this.serialized(async () => {
      this.assertWritable(subject);
      await this.commit([{ key: { keytype: 'CONFIG', subject, magic: 0 }, value: { compatibilityLevel: level } }]);
      return { compatibility: level };
    });
  }

  deleteConfig(subject: string): Promise<{ compatibilityLevel: CompatibilityLevel }> {
    return this.serialized(async () => {
      this.assertWritable(subject);
      const own = this.state.configs.get(subject);
      if (!own) throw subjectConfigNotFound(subject);
      await this.commit([{ key: { keytype: 'CONFIG', subject, magic: 0 }, value: null }]);
      return { compatibilityLevel: own };
    });
  }

  /** Soft delete marks every version deleted; permanent deletes only what was soft-deleted. */
  deleteSubject(subject: string, permanent: boolean): Promise<number[]> {
    return this.serialized(async () => {
      this.assertWritable(subject);
      const all = this.state.versions(subject, true);
      if (all.length === 0) throw subjectNotFound(subject);
      const live = all.filter((v) => !v.deleted);
      if (permanent) {
        if (live.length > 0) throw subjectNotSoftDeleted(subject);
        await this.commit(
          all.map((v) => ({ key: { keytype: 'SCHEMA', subject, version: v.version, magic: 1 }, value: null })),
        );
        return all.map((v) => v.version);
      }
      if (live.length === 0) throw subjectSoftDeleted(subject);
      await this.commit(
        live.map((v) => ({
          key: { keytype: 'SCHEMA', subject, version: v.version, magic: 1 },
          value: { subject, version: v.version, id: v.id, schema: v.schema, deleted: true },
        })),
      );
      return live.map((v) => v.version);
    });
  }

  deleteVersion(subject: string, versionParam: string, permanent: boolean): Promise<number> {
    return this.serialized(async () => {
      this.assertWritable(subject);
      const wanted = parseVersion(versionParam);
      const all = this.state.versions(subject, true);
      if (all.length === 0) throw subjectNotFound(subject);
      const entry = wanted === 'latest' ? all.filter((v) => !v.deleted).at(-1) : all.find((v) => v.version === wanted);
      if (!entry) throw versionNotFound(versionParam);
      const key = { keytype: 'SCHEMA' as const, subject, version: entry.version, magic: 1 as const };
      if (permanent) {
        if (!entry.deleted) throw versionNotSoftDeleted(subject, entry.version);
        await this.commit([{ key, value: null }]);
      } else {
        if (entry.deleted) throw versionSoftDeleted(subject, entry.version);
        await this.commit([
          { key, value: { subject, version: entry.version, id: entry.id, schema: entry.schema, deleted: true } },
        ]);
      }
      return entry.version;
    });
  }
}

function parseSchema(schemaText: unknown, schemaType: unknown, limits: SchemaComplexity) {
  if (schemaType !== undefined && schemaType !== null && schemaType !== 'AVRO') {
    throw invalidSchema(`schemaType ${JSON.stringify(schemaType)} is not supported by this registry; only AVRO`);
  }
  if (typeof schemaText !== 'string' || schemaText.trim() === '') throw invalidSchema('Empty schema');
  return canonicalSchema(schemaText, limits);
}

/** "latest", -1 (latest), or an integer in [1, 2^31-1]; anything else is 42202. */
function parseVersion(v: string): number | 'latest' {
  if (v === 'latest' || v === '-1') return 'latest';
  if (!/^\d+$/.test(v)) throw invalidVersion(v);
  const n = Number(v);
  if (n < 1 || n > MAX_VERSION) throw invalidVersion(v);
  return n;
}

export { RegistryError };
