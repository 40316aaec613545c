import type { OrderEventInput, UserEventInput } from '../tributary-producer';
import { Random } from './random';

export type DemoEvent =
  | ({ kind: 'user' } & UserEventInput & { eventId: string; occurredAt: number })
  | ({ kind: 'order' } & OrderEventInput & { eventId: string; occurredAt: number })
  | DeclaredDemoEvent;

/** An event of one of the example declared types (events/examples), as JSON: decimals as text. */
export interface DeclaredDemoEvent {
  kind: 'custom';
  type: 'subscription_started' | 'invoice_paid';
  eventId: string;
  userId: string;
  occurredAt: number;
  properties: Record<string, string | number | boolean>;
}

/** The example declared types' properties the pipeline has now, per type (undefined: not declared). */
export type DeclaredProperties = (type: string) => ReadonlySet<string> | undefined;
const PLANS = ['free', 'pro', 'team'] as const;

const COUNTRIES = [
  { country: 'DE', currency: 'EUR', weight: 5 },
  { country: 'FR', currency: 'EUR', weight: 3 },
  { country: 'ES', currency: 'EUR', weight: 2 },
  { country: 'US', currency: 'USD', weight: 6 },
  { country: 'GB', currency: 'GBP', weight: 3 },
  { country: 'JP', currency: 'JPY', weight: 2 },
] as const;
const DEVICES = ['mobile', 'mobile', 'mobile', 'desktop', 'desktop', 'tablet'] as const;
const CATEGORIES = ['books', 'music', 'games', 'garden', 'kitchen', 'toys'] as const;
const PAGES = ['/', '/search', '/cart', '/checkout', '/account', '/deals'] as const;

interface Product {
  sku: string;
  category: string;
  priceCents: number;
}
interface Customer {
  userId: string;
  country: string;
  currency: string;
  device: string;
  sessionId: string | null;
}
interface OpenOrder {
  orderId: string;
  customer: Customer;
  amountCents: number;
  stage: 'placed' | 'paid' | 'shipped';
}

/**
 * A simulated e-commerce shop: users sign up, log in, browse, place orders that get paid,
 * shipped, some cancelled or refunded. Products are Zipf-distributed; a small share of events
 * are late (occurredAt minutes to hours old) and some are client retries (the same eventId sent
 * again). Deterministic for a seed and a clock.
 */
export class DemoShop {
  private readonly random: Random;
  private readonly products: Product[];
  private readonly customers: Customer[] = [];
  private readonly openOrders: OpenOrder[] = [];
  private readonly sent: DemoEvent[] = [];
  private orderSeq = 0;

  /**
   * `declared`: also send the example declared types (events/examples) the pipeline has, with
   * the properties it has (a `discount` once a change added it): about 8% of events.
   */
  constructor(
    seed = 42,
    private readonly options: {
      lateShare?: number;
      retryShare?: number;
      retryWindow?: number;
      declared?: DeclaredProperties;
    } = {},
  ) {
    this.random = new Random(seed);
    this.products = Array.from({ length: 200 }, (_, i) => ({
      sku: `SKU-${String(i + 1).padStart(4, '0')}`,
      category: CATEGORIES[i % CATEGORIES.length]!,
      priceCents: 299 + ((i * 7919) % 9700),
    }));
  }

  /** The next `n` events, at wall time `now`. */
  next(n: number, now = Date.now()): DemoEvent[] {
    const out: DemoEvent[] = [];
    while (out.length < n) {
      const retry = this.sent.length > 0 && this.random.chance(this.options.retryShare ?? 0.01);
      if (retry) {
        out.push(this.random.pick(this.sent.slice(-(this.options.retryWindow ?? 200))));
        continue;
      }
      const event = this.step(now);
      if (this.random.chance(this.options.lateShare ?? 0.02))
        event.occurredAt = now - this.random.int(2 * 60_000, 3 * 3600_000);
      out.push(event);
      this.sent.push(event);
      if (this.sent.length > 2000) this.sent.splice(0, 1000);
    }
    return out;
  }

  private step(now: number): DemoEvent {
    const r = this.random;
    if (this.customers.length < 20 || r.chance(0.04)) return this.signup(now);
    if (this.options.declared && r.chance(0.08)) {
      const declared = this.declaredEvent(now);
      if (declared) return declared;
    }
    const roll = r.next();
    if (roll < 0.25 && this.openOrders.length > 0) return this.advanceOrder(now);
    if (roll < 0.4) return this.placeOrder(now);
    const c = r.pick(this.customers);
    const type = roll < 0.5 ? 'login' : roll < 0.53 ? 'logout' : roll < 0.55 ? 'profile_update' : 'page_view';
    if (type === 'login') c.sessionId = `s-${r.uuid().slice(0, 8)}`;
    return {
      kind: 'user',
      type,
      eventId: r.uuid(),
      userId: c.userId,
      occurredAt: now,
      sessionId: c.sessionId,
      country: c.country,
      device: c.device,
      page: type === 'page_view' ? r.pick(PAGES) : null,
      properties: {},
    };
  }

  private signup(now: number): DemoEvent {
    const r = this.random;
    const weights = COUNTRIES.flatMap((c) => Array.from({ length: c.weight }, () => c));
    const place = r.pick(weights);
    const customer: Customer = {
      userId: `u-${r.uuid().slice(0, 13)}`,
      country: place.country,
      currency: place.currency,
      device: r.pick(DEVICES),
      sessionId: null,
    };
    this.customers.push(customer);
    if (this.customers.length > 5000) this.customers.splice(0, 1000);
    return {
      kind: 'user',
      type: 'signup',
      eventId: r.uuid(),
      userId: customer.userId,
      occurredAt: now,
      sessionId: null,
      country: customer.country,
      device: customer.device,
      page: null,
      properties: { plan: r.chance(0.2) ? 'pro' : 'free' },
    };
  }

  /** A subscription started or an invoice paid, if its type is declared; else undefined. */
  private declaredEvent(now: number): DemoEvent | undefined {
    const r = this.random;
    const c = r.pick(this.customers);
    const type = r.chance(0.4) ? 'subscription_started' : 'invoice_paid';
    const has = this.options.declared!(type);
    if (!has) return undefined;
    const plan = PLANS[r.zipf(PLANS.length)]!;
    const properties: DeclaredDemoEvent['properties'] = { plan };
    if (type === 'subscription_started') {
      properties.seats = plan === 'team' ? r.int(2, 50) : 1;
      if (r.chance(0.3)) properties.trial = true;
    } else {
      const cents = plan === 'free' ? 0 : r.int(500, 99_999);
      properties.amount = `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
      if (has.has('discount') && r.chance(0.4))
        properties.discount = `${r.int(0, 20)}.${String(r.int(0, 99)).padStart(2, '0')}`;
    }
    return { kind: 'custom', type, eventId: r.uuid(), userId: c.userId, occurredAt: now, properties };
  }

  private placeOrder(now: number): DemoEvent {
    const r = this.random;
    const customer = r.pick(this.customers);
    const lines = r.int(1, 3);
    const items = Array.from({ length: lines }, () => {
      const p = this.products[r.zipf(this.products.length)]!;
      return { sku: p.sku, category: p.category, quantity: r.int(1, 3), unitPriceCents: p.priceCents };
    });
    const amountCents = items.reduce((n, i) => n + i.quantity * i.unitPriceCents, 0);
    const order: OpenOrder = {
      orderId: `o-${++this.orderSeq}-${r.uuid().slice(0, 6)}`,
      customer,
      amountCents,
      stage: 'placed',
    };
    this.openOrders.push(order);
    if (this.openOrders.length > 2000) this.openOrders.splice(0, 500);
    return this.orderEvent('order_placed', order, now, { items });
  }

  private advanceOrder(now: number): DemoEvent {
    const r = this.random;
    const index = r.int(0, this.openOrders.length - 1);
    const order = this.openOrders[index]!;
    const close = () => this.openOrders.splice(index, 1);
    if (order.stage === 'placed') {
      if (r.chance(0.12)) {
        close();
        return this.orderEvent('order_cancelled', order, now, { amountCents: order.amountCents });
      }
      order.stage = 'paid';
      return this.orderEvent('order_paid', order, now, { amountCents: order.amountCents });
    }
    if (order.stage === 'paid') {
      order.stage = 'shipped';
      return this.orderEvent('order_shipped', order, now, {});
    }
    close();
    if (r.chance(0.1))
      return this.orderEvent('order_refunded', order, now, {
        amountCents: r.chance(0.5) ? order.amountCents : Math.floor(order.amountCents / 2),
      });
    return this.orderEvent('order_shipped', { ...order }, now, {});
  }

  private orderEvent(
    type: OrderEventInput['type'],
    order: OpenOrder,
    now: number,
    extra: Partial<OrderEventInput>,
  ): DemoEvent {
    return {
      kind: 'order',
      type,
      eventId: this.random.uuid(),
      userId: order.customer.userId,
      occurredAt: now,
      orderId: order.orderId,
      country: order.customer.country,
      currency: extra.amountCents !== undefined || extra.items ? order.customer.currency : null,
      amountCents: type === 'order_placed' ? order.amountCents : (extra.amountCents ?? null),
      items: extra.items ?? [],
    };
  }
}
