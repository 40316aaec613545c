/// <reference lib="dom" />
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { freePort } from '../platform/ports';
import { killAndWait, spawnTributary } from '../test/pipeline';
import { unique, waitFor } from '../test/helpers';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT = path.resolve(__dirname, '..', 'docs', 'dashboard.png');

/**
 * A real browser on the live page: `tributary start --demo` on the run's broker, headless
 * Chromium (Debian's, installed by .ci/run) through playwright-core.
 */
const suite = existsSync(CHROMIUM) ? describe : describe.skip;
if (!existsSync(CHROMIUM)) console.warn(`dashboard browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH); CI installs it`);

suite('dashboard page in headless Chromium', () => {
  let start: ChildProcess | undefined;
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
    if (start) await killAndWait(start, 'SIGTERM');
  });

  it('draws charts with non-zero data and receives live updates', async () => {
    const [ingestPort, dashboardPort, registryPort] = [await freePort(), await freePort(), await freePort()];
    const id = unique('ui').replace(/-/g, '_');
    start = spawnTributary(['start', '--demo', '--rate', '200'], {
      DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'tributary-ui-')),
      KAFKA_BROKERS: process.env.KAFKA_BROKERS!,
      INGEST_PORT: String(ingestPort), DASHBOARD_PORT: String(dashboardPort), REGISTRY_PORT: String(registryPort),
      WRITE_KEYS: 'ui-key',
      TOPIC_USERS: `${id}.users`, TOPIC_ORDERS: `${id}.orders`, TOPIC_ROLLUPS: `${id}.rollups`, TOPIC_DLQ: `${id}.dlq`,
      PROCESS_GROUP_ID: `${id}-rollups`, SINK_GROUP_ID: `${id}-sink`, CLICKHOUSE_DATABASE: id,
      FLUSH_INTERVAL_MS: '300', SINK_BATCH_DELAY_MS: '100',
    });
    const url = `http://localhost:${dashboardPort}/`;
    await waitFor(async () => {
      const r = await fetch(`${url}api/totals`);
      const t = (await r.json()) as { orders?: { order_placed?: { count: number } } };
      return (t.orders?.order_placed?.count ?? 0) > 0 ? true : undefined;
    }, 'demo orders in ClickHouse', 120_000, 500);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    await page.goto(url);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
    const sums = await page.evaluate(() => {
      const chart = (window as unknown as { Chart: { getChart(c: Element): { data: { datasets: Array<{ data: number[] }> } } | undefined } }).Chart;
      return ['chart-orders', 'chart-revenue', 'chart-active', 'chart-products'].map((id) => {
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
