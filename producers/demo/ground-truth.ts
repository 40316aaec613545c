/**
 * Expected dashboard figures computed straight from the events that were accepted, with the
 * pipeline's rules (1-minute event-time windows, duplicate eventIds counted once), independent
 * of Kafka and ClickHouse. Tests and the demo compare the pipeline's totals against it.
 */
export interface TruthEvent {
  eventId: string;
  kind: 'user' | 'order' | 'custom';
  type: string;
  userId: string;
  occurredAt: number;
  currency?: string | null;
  amountCents?: number | null;
  country?: string | null;
  device?: string | null;
  items?: Array<{ sku: string; category?: string | null; quantity: number; unitPriceCents: number }>;
  /** A declared event's properties (decimals as text). */
  properties?: Record<string, unknown>;
}

/**
 * The example declared types' figures (events/examples; rollups/examples invoices_by_plan and
 * seats_by_plan), per plan: decimals in cents. `discountCents` counts an invoice without a
 * discount as 0.00, the default the change that adds it declares.
 */
export interface DeclaredTotals {
  invoices: Record<string, { count: number; amountCents: number; discountCents: number }>;
  subscriptions: Record<string, { count: number; seats: number }>;
}

/** A decimal's text ("12.5", "0.05") in hundredths, exactly. */
export function cents(text: unknown): number {
  const [whole, fraction = ''] = String(text).split('.') as [string, string?];
  return Number(whole) * 100 + Number(fraction.padEnd(2, '0').slice(0, 2));
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

  /** The example declared types' figures per plan, over every accepted event of them. */
  declaredTotals(): DeclaredTotals {
    const t: DeclaredTotals = { invoices: {}, subscriptions: {} };
    for (const e of this.events.values()) {
      if (e.kind !== 'custom') continue;
      const p = e.properties ?? {};
      const plan = String(p.plan);
      if (e.type === 'invoice_paid') {
        const o = (t.invoices[plan] ??= { count: 0, amountCents: 0, discountCents: 0 });
        o.count += 1;
        o.amountCents += cents(p.amount);
        o.discountCents += p.discount === undefined ? 0 : cents(p.discount);
      } else if (e.type === 'subscription_started') {
        const o = (t.subscriptions[plan] ??= { count: 0, seats: 0 });
        o.count += 1;
        o.seats += Number(p.seats);
      }
    }
    return t;
  }

  /** Totals over the windows whose start is in [from, to). */
  totals(from = -Infinity, to = Infinity): Totals {
    const t: Totals = { orders: {}, userEvents: {}, activeUsers: 0, products: {} };
    const users = new Set<string>();
    for (const e of this.events.values()) {
      const w = windowOf(e.occurredAt);
      // Declared events have rollups of their own (declaredTotals), not these.
      if (w < from || w >= to || e.kind === 'custom') continue;
      users.add(e.userId);
      if (e.kind === 'user') {
        t.userEvents[e.type] = (t.userEvents[e.type] ?? 0) + 1;
        continue;
      }
      const o = (t.orders[e.type] ??= { count: 0, amountCents: {} });
      o.count += 1;
      if (e.amountCents !== null && e.amountCents !== undefined && e.currency)
        o.amountCents[e.currency] = (o.amountCents[e.currency] ?? 0) + e.amountCents;
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
