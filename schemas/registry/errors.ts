import { TributaryError } from '../../platform/errors';

/**
 * Confluent Schema Registry's error body `{ error_code, message }` and its codes, so clients
 * written for Confluent's registry react to ours the same way.
 * @see https://docs.confluent.io/platform/current/schema-registry/develop/api.html#errors
 */
export class RegistryError extends TributaryError {
  constructor(
    readonly status: number,
    /** Confluent's `error_code` (e.g. 40401 subject not found). */
    readonly registryCode: number,
    message: string,
  ) {
    super('registry', message);
    this.name = 'RegistryError';
  }
}

export const subjectNotFound = (s: string) => new RegistryError(404, 40401, `Subject '${s}' not found.`);
export const versionNotFound = (v: string | number) => new RegistryError(404, 40402, `Version ${v} not found.`);
export const schemaNotFound = (detail = 'Schema not found') => new RegistryError(404, 40403, detail);
export const subjectSoftDeleted = (s: string) =>
  new RegistryError(404, 40404, `Subject '${s}' was soft deleted. Set permanent=true to delete permanently`);
export const subjectNotSoftDeleted = (s: string) =>
  new RegistryError(404, 40405, `Subject '${s}' was not deleted first before being permanently deleted`);
export const versionSoftDeleted = (s: string, v: number) =>
  new RegistryError(
    404,
    40406,
    `Subject '${s}' Version ${v} was soft deleted. Set permanent=true to delete permanently`,
  );
export const versionNotSoftDeleted = (s: string, v: number) =>
  new RegistryError(404, 40407, `Subject '${s}' Version ${v} was not deleted first before being permanently deleted`);
export const subjectConfigNotFound = (s: string) =>
  new RegistryError(404, 40408, `Subject '${s}' does not have subject-level compatibility configured`);
export const incompatible = (detail: string) =>
  new RegistryError(409, 409, `Schema being registered is incompatible with an earlier schema for subject: ${detail}`);
export const invalidSchema = (detail: string) => new RegistryError(422, 42201, `Invalid schema: ${detail}`);
export const invalidVersion = (v: string) =>
  new RegistryError(
    422,
    42202,
    `The specified version '${v}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`,
  );
export const invalidCompatibility = (level: unknown) =>
  new RegistryError(
    422,
    42203,
    `Invalid compatibility level ${JSON.stringify(level)}. Valid values are ${COMPATIBILITY_LEVELS.join(', ')}`,
  );
export const subjectModeNotFound = (s: string) =>
  new RegistryError(404, 40409, `Subject '${s}' does not have subject-level mode configured`);
export const invalidMode = (mode: unknown) =>
  new RegistryError(422, 42204, `Invalid mode ${JSON.stringify(mode)}. Valid values are ${MODES.join(', ')}`);
/** Confluent's answer to a write in read-only mode (RestOperationNotPermittedException). */
export const operationNotPermitted = (detail: string) => new RegistryError(422, 42205, detail);
export const schemaTooLarge = (detail: string) => new RegistryError(422, 42209, detail);
export const storeError = (detail: string) =>
  new RegistryError(500, 50001, `Error in the backend data store: ${detail}`);
/** Confluent's 50002: the operation did not finish in time (here, a compatibility check over its time budget). */
export const operationTimedOut = (detail: string) => new RegistryError(500, 50002, `Operation timed out: ${detail}`);

export const COMPATIBILITY_LEVELS = [
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
  'NONE',
] as const;
export type CompatibilityLevel = (typeof COMPATIBILITY_LEVELS)[number];

/** IMPORT (writing schemas with given ids) is Confluent's migration mode; this registry does not offer it. */
export const MODES = ['READWRITE', 'READONLY', 'READONLY_OVERRIDE'] as const;
export type Mode = (typeof MODES)[number];
