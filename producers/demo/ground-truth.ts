/**
 * Expected dashboard figures computed straight from the events that were accepted, with the
 * pipeline's rules (1-minute event-time windows, duplicate eventIds counted once), independent
 * of Kafka and ClickHouse. Tests and the demo compare the pipeline's totals against it.
 */
export interface TruthEvent {
  eventId: string;
  kind: 'user' | 'order';
  type: string;
  userId: string;
  occurredAt: number;
  currency?: string | null;
  amountCents?: number | null;
  country?: string | null;
  device?: string | null;
  items?: Array<{ sku: string; category?: string | null; quantity: number; unitPriceCents: number }>;
}

export interface Totals {
  orders: Record<string, { count: number; amountCents: Record<string, number> }>;
  userEvents: Record<string, number>;
  activeUsers: number;
  products: Record<string, { quantity: number; revenueCents: number }>;
}

export const WINDOW_MS = 60_000;
export const windowOf = (t: number) => t - (((t % WINDOW_MS) + WINDOW_MS) % WINDOW_MS);

export class GroundTruth {
  private readonly events = new Map<string, TruthEvent>();

  /** Records an accepted event; a second event with the same eventId is a retry and ignored. */
  add(event: TruthEvent): void {
    if (!this.events.has(event.eventId)) this.events.set(event.eventId, event);
  }

  get size(): number {
    return this.events.size;
  }

  /** The eventIds of the accepted events. */
  eventIds(): IterableIterator<string> {
    return this.events.keys();
  }

  /** Totals over the windows whose start is in [from, to). */
  totals(from = -Infinity, to = Infinity): Totals {
    const t: Totals = { orders: {}, userEvents: {}, activeUsers: 0, products: {} };
    const users = new Set<string>();
    for (const e of this.events.values()) {
      const w = windowOf(e.occurredAt);
      if (w < from || w >= to) continue;
      users.add(e.userId);
      if (e.kind === 'user') {
        t.userEvents[e.type] = (t.userEvents[e.type] ?? 0) + 1;
        continue;
      }
      const o = (t.orders[e.type] ??= { count: 0, amountCents: {} });
      o.count += 1;
      if (e.amountCents !== null && e.amountCents !== undefined && e.currency) o.amountCents[e.currency] = (o.amountCents[e.currency] ?? 0) + e.amountCents;
      if (e.type === 'order_placed') {
        for (const item of e.items ?? []) {
          const p = (t.products[item.sku] ??= { quantity: 0, revenueCents: 0 });
          p.quantity += item.quantity;
          p.revenueCents += item.quantity * item.unitPriceCents;
        }
      }
    }
    t.activeUsers = users.size;
    return t;
  }

  toJSON(): TruthEvent[] {
    return [...this.events.values()];
  }
}
