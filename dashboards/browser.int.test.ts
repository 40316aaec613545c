/// <reference lib="dom" />
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { killAndWait, runTributary, spawnStart } from '../test/pipeline';
import { waitFor } from '../test/helpers';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// The docs' picture (docs/dashboard.png) is refreshed on purpose (UPDATE_SCREENSHOT=1), not by every test run.
const SCREENSHOT =
  process.env.UPDATE_SCREENSHOT === '1'
    ? path.resolve(__dirname, '..', 'docs', 'dashboard.png')
    : path.resolve(__dirname, '..', '.tributary', 'screenshots', 'dashboard.png');

/**
 * A real browser on the live page: `tributary start --demo` on the run's broker, headless
 * Chromium (Debian's, installed by .ci/run) through playwright-core.
 */
const suite = existsSync(CHROMIUM) ? describe : describe.skip;
if (!existsSync(CHROMIUM))
  console.warn(
    `dashboard browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); CI installs it`,
  );

suite('dashboard page in headless Chromium', () => {
  let start: ChildProcess | undefined;
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
    if (start) await killAndWait(start, 'SIGTERM');
  });

  it('draws charts with non-zero data and receives live updates', async () => {
    const started = await spawnStart(['--demo', '--rate', '200'], 'ui-key');
    start = started.child;
    const url = `${started.dashboard}/`;
    await waitFor(
      async () => {
        const r = await fetch(`${url}api/totals`);
        const t = (await r.json()) as { orders?: { order_placed?: { count: number } } };
        return (t.orders?.order_placed?.count ?? 0) > 0 ? true : undefined;
      },
      'demo orders in ClickHouse',
      120_000,
      500,
    );
    // A declared rollup, for the panel that shows any of them.
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'ui-rollups-')), 'units.yaml');
    writeFileSync(
      file,
      'name: units_by_category\nsource: order_lines\ntypes: [order_placed]\ndimensions: [category]\nmeasures: [sum(quantity)]\nwindow: 1m\n',
    );
    expect((await runTributary(['rollups', 'apply', file], started.env)).code).toBe(0);
    await waitFor(
      async () => {
        const r = (await (await fetch(`${url}api/rollups`)).json()) as {
          rollups: Array<{ name: string; served: number | null }>;
        };
        // Ours, and the examples `--demo` applies.
        return ['revenue_by_country_category', 'signups_by_plan', 'units_by_category'].every(
          (n) => r.rollups.find((x) => x.name === n)?.served === 1,
        )
          ? true
          : undefined;
      },
      'the declared rollup to be served',
      120_000,
      500,
    );

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    await page.goto(url);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
    const sums = await page.evaluate(() => {
      const chart = (
        window as unknown as {
          Chart: { getChart(c: Element): { data: { datasets: Array<{ data: number[] }> } } | undefined };
        }
      ).Chart;
      return ['chart-orders', 'chart-revenue', 'chart-active', 'chart-products', 'chart-rollup'].map((id) => {
        const c = chart.getChart(document.getElementById(id)!);
        return c ? c.data.datasets.flatMap((d) => d.data).reduce((a, b) => a + b, 0) : -1;
      });
    });
    expect(sums.every((s) => s > 0)).toBe(true);
    const firstOrders = await page.textContent('#kpi-orders');
    expect(Number(firstOrders!.replace(/\D/g, ''))).toBeGreaterThan(0);
    // A live update arrives over SSE (the page counts them), and the live badge is on.
    await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) >= 6, undefined, { timeout: 30_000 });
    expect(await page.getAttribute('#live', 'class')).toContain('on');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
  });
});
