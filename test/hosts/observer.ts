import type { Admin } from '../../platform/kafka/client';
import { stageLag } from '../../dashboards/pipeline-status';
import { sleep } from '../../platform/retry';
import type { HostStage } from './stage';

/** What an operator's monitoring would have seen at one moment. */
export interface Sample {
  at: number;
  /** Stages whose /readyz did not answer 200, with why (`sink: 503 kafka`, `p1: no answer`). */
  notReady: string[];
  /** Records the processor group has not processed (undefined: Kafka did not answer in time). */
  processLag: number | undefined;
  /** Rows the sink group has not committed. */
  sinkLag: number | undefined;
}

export interface Window {
  /** Seconds from the fault to the first /readyz failure, and whose. */
  detect: { afterS: number; stages: string[] } | undefined;
  /**
   * Seconds from the fault to the processor group's lag back under `lagOk` after its peak while
   * the fault still lasted (another member took the work over), if it did.
   */
  failoverS: number | undefined;
  /** Seconds from the heal to the first sample with every stage ready and both lags under `lagOk`. */
  recoverS: number | undefined;
  processLagPeak: number;
  sinkLagPeak: number;
  /** The processor group's lag in the last sample before the heal. */
  processLagAtHeal: number | undefined;
}

/**
 * Samples every stage's /readyz and both groups' lag (`tributary lag`'s figures, from the same
 * function) twice a second from the harness's own host, and checks one invariant on the way: a
 * group's committed offset of a partition never moves back (a zombie's commit over its
 * successor's would).
 */
export class Observer {
  readonly samples: Sample[] = [];
  readonly backwards: string[] = [];
  private readonly committed = new Map<string, number>();
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly admin: Admin,
    private readonly stages: () => HostStage[],
    private readonly groups: {
      process: { group: string; topics: string[] };
      sink: { group: string; topics: string[] };
    },
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const at = Date.now();
        const [ready, processLag, sinkLag] = await Promise.all([
          Promise.all(this.stages().map(async (s) => [s.name, await s.readiness()] as const)),
          this.lag('process'),
          this.lag('sink'),
        ]);
        this.samples.push({
          at,
          notReady: ready.filter(([, why]) => why !== undefined).map(([n, why]) => `${n}: ${why}`),
          processLag,
          sinkLag,
        });
        await sleep(Math.max(0, 500 - (Date.now() - at)));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** What the samples between `from` and `to` show about a fault injected at `from` and healed at `healed`. */
  window(from: number, healed: number, to: number, lagOk: number): Window {
    const within = this.samples.filter((s) => s.at >= from && s.at <= to);
    const failing = within.find((s) => s.notReady.length > 0);
    const recovered = within.find(
      (s) =>
        s.at >= healed &&
        s.notReady.length === 0 &&
        s.processLag !== undefined &&
        s.processLag <= lagOk &&
        s.sinkLag !== undefined &&
        s.sinkLag <= lagOk,
    );
    const beforeHeal = within.filter((s) => s.at < healed && s.processLag !== undefined);
    const peak = beforeHeal.reduce((p, s, i) => (s.processLag! > beforeHeal[p]!.processLag! ? i : p), 0);
    const failover =
      (beforeHeal[peak]?.processLag ?? 0) > lagOk
        ? beforeHeal.slice(peak).find((s) => s.processLag! <= lagOk)
        : undefined;
    return {
      detect: failing && { afterS: (failing.at - from) / 1000, stages: failing.notReady },
      failoverS: failover && (failover.at - from) / 1000,
      recoverS: recovered && (recovered.at - healed) / 1000,
      processLagPeak: Math.max(0, ...within.map((s) => s.processLag ?? 0)),
      sinkLagPeak: Math.max(0, ...within.map((s) => s.sinkLag ?? 0)),
      processLagAtHeal: beforeHeal[beforeHeal.length - 1]?.processLag,
    };
  }

  private async lag(stage: 'process' | 'sink'): Promise<number | undefined> {
    const { group, topics } = this.groups[stage];
    const lag = await Promise.race([
      stageLag(this.admin, stage, group, topics).catch(() => undefined),
      sleep(2000).then(() => undefined),
    ]);
    if (!lag) return undefined;
    for (const p of lag.partitions) {
      if (p.committed < 0) continue;
      const key = `${group} ${p.topic}/${p.partition}`;
      const before = this.committed.get(key) ?? -1;
      if (p.committed < before)
        this.backwards.push(`${key}: committed offset moved back from ${before} to ${p.committed}`);
      this.committed.set(key, Math.max(before, p.committed));
    }
    return lag.totalLag;
  }
}
