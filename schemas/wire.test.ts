import { SCHEMAS } from './catalog';
import { decodeBody, encodeWire, schemaIdOf, WireFormatError } from './wire';

const event = {
  eventId: 'e',
  type: 'login',
  userId: 'u',
  occurredAt: 1795809600000,
  receivedAt: null,
  sessionId: null,
  country: null,
  device: null,
  page: null,
  properties: {},
  origin: null,
};

describe('Confluent wire format', () => {
  it('writes magic 0, the id big-endian, then the Avro body, and reads it back', () => {
    const buf = encodeWire(258, SCHEMAS.user.type, event);
    expect([...buf.subarray(0, 5)]).toEqual([0, 0, 0, 1, 2]);
    expect(buf.subarray(5)).toEqual(SCHEMAS.user.type.toBuffer(event));
    expect(schemaIdOf(buf)).toBe(258);
    expect(decodeBody(buf, SCHEMAS.user.type)).toEqual(event);
  });

  it.each([
    ['null', null, /shorter than the 5-byte/],
    ['too short', Buffer.from([0, 0, 1]), /shorter than the 5-byte/],
    ['wrong magic', Buffer.from([1, 0, 0, 0, 1, 2]), /unknown magic byte 1/],
  ])('rejects a value that is %s as undecodable', (_what, buf, message) => {
    expect(() => schemaIdOf(buf)).toThrow(message);
    try {
      schemaIdOf(buf);
    } catch (e) {
      expect((e as WireFormatError).reason).toBe('undecodable');
    }
  });

  it('encodes values larger than its scratch buffer, and small ones after them, to exactly their bytes', () => {
    // 64 KiB of scratch at first: 300 KiB of properties outgrows it (more than doubling it).
    const big = {
      ...event,
      properties: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, String(i % 10).repeat(1024)])),
    };
    const small = { ...event, userId: 'after' };
    for (const value of [big, small, big, small]) {
      const buf = encodeWire(3, SCHEMAS.user.type, value);
      const body = SCHEMAS.user.type.toBuffer(value);
      expect(buf.length).toBe(5 + body.length);
      expect(schemaIdOf(buf)).toBe(3);
      expect(buf.subarray(5).equals(body)).toBe(true);
      expect(decodeBody<typeof value>(buf, SCHEMAS.user.type).userId).toBe(value.userId);
    }
  });

  it('throws for a value its type cannot encode, and encodes the next one', () => {
    expect(() => encodeWire(1, SCHEMAS.user.type, { ...event, userId: 42 })).toThrow();
    expect(decodeBody(encodeWire(1, SCHEMAS.user.type, event), SCHEMAS.user.type)).toEqual(event);
  });

  it('rejects a truncated body and trailing garbage', () => {
    const buf = encodeWire(1, SCHEMAS.user.type, event);
    expect(() => decodeBody(buf.subarray(0, buf.length - 3), SCHEMAS.user.type)).toThrow(WireFormatError);
    expect(() => decodeBody(Buffer.concat([buf, Buffer.from([7])]), SCHEMAS.user.type)).toThrow(/trailing bytes/);
  });
});
