import { contentId, nameBasedUuid } from './event-id';

describe('name-based event ids', () => {
  it("are RFC 9562 version-5 UUIDs: the same as Python's uuid.uuid5 in Tributary's namespace", () => {
    // python3 -c "import uuid; print(uuid.uuid5(uuid.UUID('6f1c2b9e-4d7a-4e0f-9b3c-5a8d2e1f7c40'), 'rabbitmq:orders\nmsg-1\n0'))"
    expect(nameBasedUuid('rabbitmq:orders\nmsg-1\n0')).toBe('ef411773-0b3a-573e-a79f-0ea6197fa0bf');
    expect(nameBasedUuid('sqs:http://x/q\nabc\n3')).toBe('ae7db456-e64d-5a41-bc48-2590fa2d3b06');
  });

  it('differ by message and by place in the message', () => {
    const ids = new Set(['a\n1\n0', 'a\n1\n1', 'a\n2\n0', 'b\n1\n0'].map(nameBasedUuid));
    expect(ids.size).toBe(4);
  });

  it('content ids depend on every byte', () => {
    expect(contentId(Buffer.from('{"a":1}'))).toBe(contentId(Buffer.from('{"a":1}')));
    expect(contentId(Buffer.from('{"a":1}'))).not.toBe(contentId(Buffer.from('{"a":2}')));
  });
});
