/**
 * Sends `items` with `send`, which retries what the infrastructure causes and throws what it
 * cannot retry. When `atFault(err)` says a failure came from the items themselves (a record the
 * broker refuses, a value ClickHouse cannot store), halves them and sends each half, until the
 * item at fault is alone; `alone` then decides its fate (a dead letter in its place, rows sent one
 * by one, a drop). Any other failure is thrown as is. So one bad item never stops the others, and
 * each good item is sent in exactly one send that succeeded. `split` hears of each halving.
 * Used by the processor's emits and the sink's inserts.
 */
export async function sendIsolating<T>(
  items: T[],
  send: (items: T[]) => Promise<void>,
  handlers: {
    atFault: (err: unknown) => boolean;
    alone: (item: T, err: unknown) => Promise<void>;
    split?: (items: T[], err: unknown) => void;
  },
): Promise<void> {
  if (items.length === 0) return;
  try {
    await send(items);
  } catch (err) {
    if (!handlers.atFault(err)) throw err;
    if (items.length === 1) return handlers.alone(items[0]!, err);
    handlers.split?.(items, err);
    const half = Math.ceil(items.length / 2);
    await sendIsolating(items.slice(0, half), send, handlers);
    await sendIsolating(items.slice(half), send, handlers);
  }
}
