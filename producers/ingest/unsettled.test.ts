import type { RecordReceipt } from '../batcher';
import { CONFLICT, UnsettledSends } from './unsettled';

const receipt = (offset: number): RecordReceipt => ({ topic: 'events.users', partition: 0, offset: String(offset) });

function deferred() {
  let resolve!: (r: RecordReceipt[]) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<RecordReceipt[]>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('UnsettledSends', () => {
  it("answers a repeat of an in-flight event with that send's receipt for it", async () => {
    const u = new UnsettledSends();
    const send = deferred();
    u.track(['a', 'b'], [0, 0], send.promise);
    const again = u.find('b', 0);
    expect(again).toBeInstanceOf(Promise);
    send.resolve([receipt(7), receipt(8)]);
    await expect(again).resolves.toEqual(receipt(8));
  });

  it('forgets a send answered in time; keeps the receipts of one whose request gave up (503) until they expire', async () => {
    let now = 1_000;
    const u = new UnsettledSends(60_000, 10, () => now);
    const inTime = deferred();
    u.track(['a'], [0], inTime.promise);
    inTime.resolve([receipt(1)]);
    await flush();
    expect(u.find('a', 0)).toBeUndefined();

    const late = deferred();
    u.track(['b', 'c'], [0, 0], late.promise).gaveUp();
    late.resolve([receipt(2), receipt(3)]);
    await flush();
    expect(u.find('c', 0)).toEqual(receipt(3));
    now += 60_001;
    expect(u.find('c', 0)).toBeUndefined();
  });

  it('keeps the receipts when the request gives up only after the send settled', async () => {
    const u = new UnsettledSends();
    const send = deferred();
    const tracking = u.track(['a'], [0], send.promise);
    send.resolve([receipt(5)]);
    await flush();
    tracking.gaveUp();
    expect(u.find('a', 0)).toEqual(receipt(5));
  });

  it('forgets a failed send, so the retry produces the event again', async () => {
    const u = new UnsettledSends();
    const send = deferred();
    u.track(['a'], [0], send.promise).gaveUp();
    const waiting = u.find('a', 0) as Promise<RecordReceipt>;
    send.reject(new Error('broker gone'));
    await expect(waiting).rejects.toThrow('broker gone');
    await flush();
    expect(u.find('a', 0)).toBeUndefined();
    expect(u.size).toEqual({ pending: 0, retained: 0 });
  });

  it('keeps at most maxRetained receipts, dropping the oldest', async () => {
    const u = new UnsettledSends(60_000, 2);
    for (const [i, id] of ['a', 'b', 'c'].entries()) {
      const send = deferred();
      u.track([id], [0], send.promise).gaveUp();
      send.resolve([receipt(i)]);
      await flush();
    }
    expect(['a', 'b', 'c'].map((id) => u.find(id, 0))).toEqual([undefined, receipt(1), receipt(2)]);
  });

  it('a later send of the same id is not forgotten when the earlier one settles', async () => {
    const u = new UnsettledSends();
    const first = deferred();
    const second = deferred();
    u.track(['a'], [0], first.promise);
    u.track(['a'], [0], second.promise);
    first.resolve([receipt(1)]);
    await flush();
    const found = u.find('a', 0);
    second.resolve([receipt(2)]);
    await expect(found).resolves.toEqual(receipt(2));
  });

  it('names a repeat of an eventId with other content a conflict, in flight and retained', async () => {
    const u = new UnsettledSends();
    const send = deferred();
    u.track(['a'], [111], send.promise).gaveUp();
    expect(u.find('a', 222)).toBe(CONFLICT);
    send.resolve([receipt(1)]);
    await flush();
    expect(u.find('a', 222)).toBe(CONFLICT);
    expect(u.find('a', 111)).toEqual(receipt(1));
  });
});
