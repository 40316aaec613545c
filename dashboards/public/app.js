/* Tributary dashboard: charts from /api/timeseries and /api/top-products, live figures over SSE. */
'use strict';
const PALETTE = ['#4cc2ff', '#f78166', '#3fb950', '#d2a8ff', '#e3b341', '#ff7b72', '#79c0ff', '#56d364'];
const charts = {};
const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat();
const money = (cents, currency) =>
  new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(cents / (currency === 'JPY' ? 1 : 100));

function rangeQuery() {
  const minutes = Number($('range').value);
  const to = Date.now() + 60_000;
  const from = to - (minutes + 1) * 60_000;
  const interval = minutes > 360 ? '5m' : '1m';
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), interval };
}

/**
 * With READ_KEYS set, the page asks for a read key once and trades it (in a header, never in a
 * URL) for an HttpOnly session cookie; every fetch and the live stream then send the cookie.
 */
let signingIn;
function signIn() {
  signingIn ??= (async () => {
    for (;;) {
      const key = window.prompt('This dashboard needs a read key (READ_KEYS):');
      if (key === null) throw new Error('no read key');
      const res = await fetch('/api/session', { method: 'POST', headers: { authorization: `Bearer ${key}` } });
      if (res.ok) return;
    }
  })().finally(() => {
    signingIn = undefined;
  });
  return signingIn;
}

async function api(path, params) {
  let res = await fetch(`${path}?${new URLSearchParams(params)}`);
  if (res.status === 401) {
    await signIn();
    res = await fetch(`${path}?${new URLSearchParams(params)}`);
  }
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

/** Every bucket start in the range, so minutes without events show as zero instead of vanishing. */
function buckets(q) {
  const step = q.interval === '5m' ? 300_000 : 60_000;
  const out = [];
  for (let t = Math.floor(Date.parse(q.from) / step) * step; t < Date.parse(q.to); t += step)
    out.push(new Date(t).toISOString());
  return out;
}

let axis = [];
function seriesChart(id, points, label = (g) => g || 'all', type = 'line') {
  const times = axis;
  const groups = [...new Set(points.map((p) => p.group))].sort();
  const datasets = groups.map((g, i) => ({
    label: label(g),
    data: times.map((t) => points.find((p) => p.t === t && p.group === g)?.value ?? 0),
    borderColor: PALETTE[i % PALETTE.length],
    backgroundColor: PALETTE[i % PALETTE.length] + '55',
    tension: 0.2,
    pointRadius: 0,
    fill: type === 'bar',
  }));
  const labels = times.map((t) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  draw(id, type, labels, datasets);
}

function draw(id, type, labels, datasets, extra = {}) {
  if (charts[id]) {
    charts[id].data.labels = labels;
    charts[id].data.datasets = datasets;
    charts[id].update('none');
    return;
  }
  charts[id] = new Chart($(id), {
    type,
    data: { labels, datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { labels: { color: '#e6edf3' } } },
      scales: {
        x: { ticks: { color: '#8b98a5', maxTicksLimit: 8 } },
        y: { ticks: { color: '#8b98a5' }, beginAtZero: true },
      },
      ...extra,
    },
  });
}

async function refreshCharts() {
  const q = rangeQuery();
  axis = buckets(q);
  const [orders, revenue, users, active, top, totals] = await Promise.all([
    api('/api/timeseries', { ...q, metric: 'orders', groupBy: 'type' }),
    api('/api/timeseries', { ...q, metric: 'revenue', groupBy: 'type' }),
    api('/api/timeseries', { ...q, metric: 'user_events', groupBy: 'type' }),
    api('/api/timeseries', { ...q, metric: 'active_users' }),
    api('/api/top-products', { from: q.from, to: q.to, limit: 10 }),
    api('/api/totals', { from: q.from, to: q.to }),
  ]);
  seriesChart('chart-orders', orders.points);
  const placedRevenue = revenue.points
    .filter((p) => p.group.startsWith('order_placed/'))
    .map((p) => ({ ...p, group: p.group.split('/')[1] }));
  seriesChart('chart-revenue', placedRevenue);
  seriesChart(
    'chart-signups',
    users.points.filter((p) => p.group === 'signup'),
    () => 'signups',
    'bar',
  );
  seriesChart('chart-active', active.points, () => 'active users');
  draw(
    'chart-products',
    'bar',
    top.products.map((p) => p.sku),
    [{ label: 'units', data: top.products.map((p) => p.quantity), backgroundColor: PALETTE[0] }],
    { indexAxis: 'y' },
  );
  showTotals(totals);
  await refreshRollup().catch(console.error);
  document.body.dataset.loaded = 'true';
}

/**
 * The declared-rollup panel: any rollup of /api/rollups, one of its measures, split by none or
 * one of its dimensions, over the page's range at the rollup's window or coarser.
 */
let rollups = [];
function option(select, values, keep) {
  const current = keep ? select.value : undefined;
  select.innerHTML = values.map(([v, label]) => `<option value="${v}">${label}</option>`).join('');
  if (current && values.some(([v]) => v === current)) select.value = current;
}
async function refreshRollup() {
  rollups = (await api('/api/rollups', {})).rollups.filter((r) => r.declaration);
  $('declared').dataset.rollups = String(rollups.length);
  if (rollups.length === 0) return;
  option(
    $('rollup-name'),
    rollups.map((r) => [r.name, r.name]),
    true,
  );
  const r = rollups.find((x) => x.name === $('rollup-name').value) ?? rollups[0];
  option(
    $('rollup-measure'),
    r.declaration.measures.map((m) => [m.column, m.column]),
    true,
  );
  option($('rollup-group'), [['', 'all'], ...r.declaration.dimensions.map((d) => [d.column, d.field])], true);
  const q = rangeQuery();
  const minutes = { '1m': 1, '1h': 60, '1d': 1440 }[r.declaration.window];
  const interval = minutes >= 1440 ? '1d' : minutes >= 60 ? '1h' : q.interval;
  const params = { from: q.from, to: q.to, interval, measure: $('rollup-measure').value };
  if ($('rollup-group').value) params.groupBy = $('rollup-group').value;
  const a = await api(`/api/rollups/${encodeURIComponent(r.name)}`, params);
  $('rollup-note').textContent =
    a.version === null
      ? `backfilling: ${Math.round(a.coverage.progress * 100)}% (served once its history is complete)`
      : `v${a.version}, ${r.declaration.window} windows${a.truncated ? ', smaller groups folded into __other__' : ''}`;
  const times = [...new Set(a.points.map((p) => p.t))].sort();
  const groups = [...new Set(a.points.map((p) => p.group))].sort();
  draw(
    'chart-rollup',
    'bar',
    times.map((t) =>
      new Date(t).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }),
    ),
    groups.map((g, i) => ({
      label: g || 'all',
      data: times.map((t) => a.points.find((p) => p.t === t && p.group === g)?.value ?? 0),
      backgroundColor: PALETTE[i % PALETTE.length],
    })),
  );
  $('declared').dataset.version = String(a.version);
}
for (const id of ['rollup-name', 'rollup-measure', 'rollup-group'])
  $(id).addEventListener('change', () => refreshRollup().catch(console.error));

function showTotals(t) {
  const placed = t.orders.order_placed || { count: 0, amountCents: {} };
  $('kpi-orders').textContent = fmt.format(placed.count);
  $('kpi-revenue').textContent =
    Object.entries(placed.amountCents)
      .map(([c, v]) => money(v, c))
      .join(' · ') || '–';
  $('kpi-signups').textContent = fmt.format(t.userEvents.signup || 0);
  $('kpi-active').textContent = fmt.format(t.activeUsers);
}

/** Received → queryable of the last minute's events; "idle" when none arrived (it is not an age). */
function showFreshness(f) {
  $('kpi-fresh').textContent = f === null ? 'idle' : `${(f.p50Ms / 1000).toFixed(1)} s`;
  $('kpi-fresh').title =
    f === null ? 'no event in the last minute' : `p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms over ${f.rows} row versions`;
}

async function refreshPipeline() {
  const p = await api('/api/pipeline', {});
  $('pipeline').querySelector('tbody').innerHTML = p.stages
    .map(
      (s) =>
        `<tr><td>${s.stage}</td><td>${s.lag ?? '–'}</td><td>${s.recordsPerSecond ?? s.rowsPerSecond ?? '–'}</td></tr>`,
    )
    .join('');
  $('dlq').textContent = `dead letters: ${fmt.format(p.deadLetters)}`;
}

let updates = 0;
function connect() {
  const source = new EventSource('/api/stream');
  source.addEventListener('open', () => {
    $('live').textContent = 'live';
    $('live').classList.add('on');
  });
  source.addEventListener('error', () => {
    $('live').textContent = 'reconnecting…';
    $('live').classList.remove('on');
  });
  source.addEventListener('figures', (e) => {
    const f = JSON.parse(e.data);
    updates += 1;
    document.body.dataset.updates = String(updates);
    $('kpi-orders-now').textContent = fmt.format(f.current.orders.order_placed?.count || 0);
    $('kpi-signups-now').textContent = fmt.format(f.current.userEvents.signup || 0);
    $('kpi-active-now').textContent = fmt.format(f.current.activeUsers);
    if ($('range').value === '60') showTotals(f.lastHour);
    showFreshness(f.freshness);
    if (updates % 5 === 0) refreshCharts().catch(console.error);
    if (updates % 3 === 0) refreshPipeline().catch(console.error);
  });
}

$('range').addEventListener('change', () => refreshCharts().catch(console.error));
// The first call signs in when the dashboard needs a key; the stream opens after it.
refreshCharts()
  .catch(console.error)
  .finally(() => {
    refreshPipeline().catch(console.error);
    connect();
  });
