// The console in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core),
// as a person uses it: the map, a click from a node to its traces to one trace, a bad filter,
// and the live tail receiving a trace that the real X-Ray SDK for Node.js sends meanwhile.
//
// Usage: NODE_PATH=<dir with aws-xray-sdk-core> node console_e2e.js BASE_URL START END UDP SHOTS_DIR
//   BASE_URL  the collector (console at /), e.g. http://127.0.0.1:40123
//   START/END epoch seconds of a window holding the stored traces
//   UDP       the collector's in-process UDP receiver, for the live-tail trace
//   SHOTS_DIR where to write screenshots (empty: none)
// Prints one "ok ..." line per check and a final JSON line of page timings.

'use strict';

const assert = require('assert');
const path = require('path');
const { chromium } = require('playwright-core');

const [BASE, START, END, UDP, SHOTS] = process.argv.slice(2);
const WINDOW = `start=${START}&end=${END}`;
const timings = {};

function ok(what) {
  console.log(`ok ${what}`);
}

async function timed(page, name, url) {
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForLoadState('networkidle').catch(() => {});
  timings[name] = Date.now() - t0;
}

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, name), fullPage: false });
}

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));

  // --- the map ---------------------------------------------------------------------------------
  await timed(page, 'map', `${BASE}/map?${WINDOW}`);
  const nodes = await page.$$eval('svg.map .node', (els) =>
    els.map((e) => ({ name: e.dataset.name, type: e.dataset.type, label: e.querySelector('.name').textContent })));
  const has = (name, type) => nodes.some((n) => n.name === name && n.type === type);
  for (const [name, type] of [
    ['orders-api/prod', 'client'],
    ['orders-api/prod', 'AWS::ApiGateway::Stage'],
    ['orders-fn', 'AWS::Lambda'],
    ['orders-fn', 'AWS::Lambda::Function'],
    ['orders', 'AWS::DynamoDB::Table'],
    ['inventory-service', 'AWS::ECS::Container'],
  ]) {
    assert(has(name, type), `map lacks ${name} (${type}): ${JSON.stringify(nodes)} ${page.url()} ${(await page.content()).slice(0, 800)}`);
  }
  assert(nodes.some((n) => n.name === 'node-daemon-svc'), 'live Node SDK service on the map');
  assert(nodes.some((n) => n.name === 'py-daemon-svc'), 'live Python SDK service on the map');
  ok(`the map shows ${nodes.length} nodes from the Python and Node SDKs`);
  const edges = await page.$$eval('svg.map .edge', (els) => els.map((e) => [e.dataset.from, e.dataset.to]));
  assert(edges.some(([a, b]) => a === 'orders-api/prod' && b === 'orders-api/prod'), 'client → gateway edge');
  assert(edges.some(([a, b]) => a === 'orders-api/prod' && b === 'orders-fn'), 'gateway → lambda edge');
  ok(`the map shows ${edges.length} edges`);
  // Entry points on the left: the client is left of the gateway, which is left of the function.
  const x = async (name, type) => page.$eval(`svg.map .node[data-name="${name}"][data-type="${type}"]`,
    (e) => e.getBoundingClientRect().x);
  assert(await x('orders-api/prod', 'client') < await x('orders-api/prod', 'AWS::ApiGateway::Stage'));
  assert(await x('orders-api/prod', 'AWS::ApiGateway::Stage') < await x('orders-fn', 'AWS::Lambda::Function'));
  ok('entry points are on the left');
  const faultColour = await page.$eval('svg.map .ring.fault', (e) => getComputedStyle(e).stroke);
  assert.strictEqual(faultColour, 'rgb(209, 50, 18)', 'faults are red');
  const okColour = await page.$eval('svg.map .ring.ok', (e) => getComputedStyle(e).stroke);
  assert.strictEqual(okColour, 'rgb(46, 164, 79)', 'ok is green');
  ok('rings are coloured by status (red faults, green ok)');
  await shot(page, 'map.png');

  // Click the gateway node: its panel with histogram and statuses opens.
  await page.click('svg.map .node[data-type="AWS::ApiGateway::Stage"]');
  const panel = page.locator('aside.detail .panel:not([hidden])');
  await panel.waitFor({ state: 'visible' });
  assert.match(await panel.locator('h2').textContent(), /orders-api\/prod/);
  assert(await panel.locator('svg.histogram rect.bar').count() > 0, 'latency histogram');
  assert.match(await panel.locator('table.outcomes').textContent(), /Fault/);
  ok('clicking a node opens its latency histogram and status breakdown');

  // ... and its traces.
  await Promise.all([page.waitForNavigation(), panel.locator('a', { hasText: 'View traces' }).click()]);
  assert.match(page.url(), /\/traces\?/);
  const filter = await page.inputValue('#filter');
  assert.match(filter, /^service\(id\(name: "orders-api\/prod", type: "AWS::ApiGateway::Stage"\)\)$/);
  const rows = await page.$$eval('#traces tbody tr', (trs) => trs.map((tr) =>
    Array.from(tr.cells).map((c) => c.textContent.trim())));
  assert(rows.length >= 5, `gateway traces listed: ${rows.length}`);
  for (const r of rows) {
    assert.match(r[0], /^1-[0-9a-f]{8}-[0-9a-f]{24}$/, 'id column');
    assert.match(r[1], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/, 'start time column');
    assert.match(r[2], /^(GET|POST)$/, 'method column');
    assert.match(r[3], /^https:\/\/.*execute-api/, 'URL column');
    assert.match(r[4], /^\d{3}$/, 'status column');
    assert.match(r[5], /ms$/, 'response time column');
  }
  ok(`node → traces: ${rows.length} rows with id, start, method, URL, status, response time`);
  assert(await page.locator('#rt-histogram .bin').count() > 0, 'response-time histogram');

  // Histogram: selecting a bar narrows the filter to its range.
  await Promise.all([page.waitForNavigation(), page.locator('#rt-histogram .bin').first().click()]);
  assert.match(await page.inputValue('#filter'), /AND responsetime >= [\d.]+ AND responsetime <= [\d.]+$/);
  const narrowed = await page.locator('#traces tbody tr').count();
  assert(narrowed >= 1 && narrowed <= rows.length, `narrowed to ${narrowed}`);
  ok(`selecting a histogram bar narrows the filter (${rows.length} → ${narrowed} traces)`);

  // ... to one trace's timeline.
  await page.goto(`${BASE}/traces?${WINDOW}&filter=${encodeURIComponent('service("orders-fn") AND fault')}`);
  await Promise.all([page.waitForNavigation(), page.locator('#traces tbody tr td.id a').first().click()]);
  assert.match(page.url(), /\/traces\/1-/);
  const bars = await page.$$eval('#timeline tr.row', (trs) => trs.map((tr) => ({
    name: tr.cells[0].textContent.trim(),
    status: tr.className,
    width: tr.querySelector('rect.tbar').getBoundingClientRect().width,
  })));
  assert(bars.length >= 5, `timeline rows: ${bars.length}`);
  assert(bars.every((b) => b.width > 0), 'every bar is drawn');
  assert(bars.some((b) => b.name === 'orders-api/prod' && /fault/.test(b.status)), 'faulty gateway bar');
  assert(bars.some((b) => b.name === 'orders-fn'), 'function bar');
  assert(bars.some((b) => /fault/.test(b.status)) && bars.some((b) => /\bok\b/.test(b.status)), 'bars coloured by status');
  const red = await page.$eval('#timeline rect.tbar.fault', (e) => getComputedStyle(e).fill);
  assert.strictEqual(red, 'rgb(209, 50, 18)');
  ok(`map → traces → trace: ${bars.length} timeline bars, coloured by status`);
  await page.locator('#timeline tr.row.fault').last().click();
  const detail = page.locator('aside.detail .panel:not([hidden])');
  await detail.waitFor({ state: 'visible' });
  assert.match(await detail.locator('dd.fault').textContent(), /fault/);
  ok('a timeline row opens its detail panel');
  assert(await page.locator('.trace-map svg.map .node').count() >= 3, "the trace's own map");
  await timed(page, 'trace', page.url());
  await shot(page, 'timeline.png');

  // --- a bad filter --------------------------------------------------------------------------
  await page.goto(`${BASE}/traces?${WINDOW}`);
  await page.fill('#filter', 'ok AND');
  await Promise.all([page.waitForNavigation(), page.press('#filter', 'Enter')]);
  const error = page.locator('.filter-error');
  await error.waitFor({ state: 'visible' });
  const caret = await error.locator('pre.caret').textContent();
  assert.strictEqual(caret, 'ok AND\n      ^');
  assert.match(await error.locator('p').textContent(), /at 6; expected/);
  ok('a bad filter shows its error under the box with a caret at the position');

  // --- live tail ----------------------------------------------------------------------------
  await timed(page, 'traces', `${BASE}/traces?range=5m`);
  await shot(page, 'traces.png');
  await page.check('#live-tail');
  await page.waitForFunction(() => document.getElementById('live-status').textContent === 'live');
  process.env.AWS_XRAY_DAEMON_ADDRESS = UDP;
  process.env.AWS_XRAY_CONTEXT_MISSING = 'IGNORE_ERROR';
  const AWSXRay = require('aws-xray-sdk-core');
  AWSXRay.enableManualMode();
  const seg = new AWSXRay.Segment('live-tail-svc');
  seg.addAnnotation('from', 'browser-test');
  seg.close();
  await page.locator(`#traces tbody tr[data-id="${seg.trace_id}"]`).waitFor({ timeout: 30000 });
  ok(`live tail: trace ${seg.trace_id} from the Node SDK appeared without a reload`);

  // --- operations: sampling rules and groups -------------------------------------------------
  await page.goto(`${BASE}/sampling`);
  assert(await page.locator('#rules tr[data-rule="Default"]').count() === 1, 'the Default rule is listed');
  await page.fill('#rule-form input[name="name"]', 'checkout');
  await page.fill('#rule-form input[name="priority"]', '10');
  await page.fill('#rule-form input[name="rate"]', '12.5');
  await page.fill('#rule-form input[name="service_name"]', 'orders-fn');
  await page.fill('#rule-form textarea[name="attributes"]', 'tier=gold');
  await Promise.all([page.waitForNavigation(), page.click('#rule-form button[type="submit"]')]);
  const created = page.locator('#rules tr[data-rule="checkout"]');
  assert.match(await created.textContent(), /12\.5%[\s\S]*orders-fn[\s\S]*tier=gold/);
  await Promise.all([page.waitForNavigation(), created.locator('a').click()]);
  await page.fill('#rule-form input[name="rate"]', '50');
  await Promise.all([page.waitForNavigation(), page.click('#rule-form button[type="submit"]')]);
  assert.match(await page.locator('#rules tr[data-rule="checkout"]').textContent(), /50%/);
  await page.fill('#rule-form input[name="name"]', 'too-much');
  await page.fill('#rule-form input[name="rate"]', '250');
  await Promise.all([page.waitForNavigation(), page.click('#rule-form button[type="submit"]')]);
  assert.match(await page.locator('#ops-error').textContent(), /FixedRate/);
  await Promise.all([page.waitForNavigation(),
    page.locator('#rules tr[data-rule="checkout"] button.danger').click()]);
  assert.strictEqual(await page.locator('#rules tr[data-rule="checkout"]').count(), 0);
  ok('sampling rules: create, edit, a refused value shown, delete');
  await page.goto(`${BASE}/groups`);
  await page.fill('#group-form input[name="name"]', 'orders');
  await Promise.all([page.waitForNavigation(), page.click('#group-form button[type="submit"]')]);
  assert.strictEqual(await page.locator('#groups tr[data-group="orders"]').count(), 1);
  await Promise.all([page.waitForNavigation(),
    page.locator('#groups tr[data-group="orders"] button.danger').click()]);
  assert.strictEqual(await page.locator('#groups tr[data-group="orders"]').count(), 0);
  ok('groups: create and delete');

  await page.goto(`${BASE}/telemetry?minutes=60`);
  const telemetry = await page.$$eval('#telemetry tbody tr', (trs) => trs.map((tr) => tr.textContent));
  assert(telemetry.some((t) => /browser-test-host/.test(t) && /118/.test(t)), `telemetry rows: ${telemetry}`);
  ok('daemon telemetry is listed');

  // The bad-filter page answers 400 on purpose; Chromium logs that as a failed load.
  // So does a refused rule.
  const unexpected = problems.filter((p) => !/status of 400/.test(p));
  assert.deepStrictEqual(unexpected, [], 'no console errors (CSP violations, script errors)');
  ok('no console errors or CSP violations');
  await browser.close();
  console.log(JSON.stringify({ timings }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
