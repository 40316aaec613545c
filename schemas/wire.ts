import avro from 'avsc';
import { TributaryError } from '../platform/errors';

/**
 * The Confluent wire format: magic byte 0, the schema id as a 4-byte big-endian integer, then
 * the Avro binary encoding of the value.
 * @see https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format
 */
export const MAGIC_BYTE = 0;
export const HEADER_SIZE = 5;

export class WireFormatError extends TributaryError {
  constructor(
    message: string,
    readonly reason: 'undecodable' | 'unknown_schema',
  ) {
    super('wire_format', message);
    this.name = 'WireFormatError';
  }
}

/** Values are written here first, then copied out at their exact size; it grows to the largest value encoded. */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * `value` in the wire format. Written once into the scratch buffer after the header and copied
 * once into its own buffer (avsc's toBuffer would zero a buffer for the body and copy twice: the
 * ingest and the processor encode every event and row through here).
 */
export function encodeWire(schemaId: number, type: avro.Type, value: unknown): Buffer {
  let end = type.encode(value, scratch, HEADER_SIZE);
  while (end < 0) {
    // Too small: avsc returns minus the bytes it missed (at least 1); grow by that, at least doubling.
    scratch = Buffer.allocUnsafe(Math.max(2 * scratch.length, scratch.length - end));
    end = type.encode(value, scratch, HEADER_SIZE);
  }
  const out = Buffer.allocUnsafe(end);
  scratch.copy(out, HEADER_SIZE, HEADER_SIZE, end);
  out.writeUInt8(MAGIC_BYTE, 0);
  out.writeInt32BE(schemaId, 1);
  return out;
}

/** The schema id of a wire-format value, or a WireFormatError. */
export function schemaIdOf(buffer: Buffer | null): number {
  if (!buffer || buffer.length < HEADER_SIZE)
    throw new WireFormatError(
      `value of ${buffer?.length ?? 0} bytes is shorter than the 5-byte wire-format header`,
      'undecodable',
    );
  if (buffer[0] !== MAGIC_BYTE)
    throw new WireFormatError(`unknown magic byte ${buffer[0]}, expected 0 (Confluent wire format)`, 'undecodable');
  return buffer.readInt32BE(1);
}

/** Decodes the Avro body with `type` (the writer's, or a reader with its resolver from the writer); the whole body must be consumed. */
export function decodeBody<T>(buffer: Buffer, type: avro.Type, resolver?: avro.Resolver): T {
  try {
    const { value, offset } = type.decode(buffer, HEADER_SIZE, resolver);
    if (offset !== buffer.length)
      throw new WireFormatError(
        offset < 0 ? 'truncated Avro body' : `${buffer.length - offset} trailing bytes after the Avro body`,
        'undecodable',
      );
    return value as T;
  } catch (err) {
    throw new WireFormatError(
      `Avro body does not decode with schema ${buffer.readInt32BE(1)}: ${(err as Error).message}`,
      'undecodable',
    );
  }
}
