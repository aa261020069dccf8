// Page-load times of the console in Debian's Chromium, from the browser's Navigation Timing:
// navigation start to the end of the load event. Used by collector/benches/console_pages.rs.
//
// Usage: node page_load.js BASE_URL [RUNS]

'use strict';

const { chromium } = require('playwright-core');

const [BASE, RUNS = '5'] = process.argv.slice(2);

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  // A trace id to open: the newest listed.
  await page.goto(`${BASE}/traces?range=1h`);
  const id = await page.$eval('#traces tbody td.id a', (a) => a.textContent);
  const count = await page.$eval('#trace-count', (e) => e.textContent);
  const pages = [
    ['map, last 1 h', `${BASE}/map?range=1h`],
    [`traces, last 1 h (${count} listed)`, `${BASE}/traces?range=1h`],
    ['traces, filter, last 1 h', `${BASE}/traces?range=1h&filter=${encodeURIComponent('service("inventory.internal") { fault }')}`],
    ['trace timeline', `${BASE}/traces/${id}`],
    ['sampling rules', `${BASE}/sampling`],
  ];
  console.log('| page | load, median | load, max | server (responseEnd), median |');
  console.log('| --- | --- | --- | --- |');
  for (const [name, url] of pages) {
    const loads = [];
    const servers = [];
    for (let i = 0; i < Number(RUNS); i++) {
      await page.goto(url, { waitUntil: 'load' });
      const t = await page.evaluate(() => {
        const n = performance.getEntriesByType('navigation')[0];
        return { load: n.loadEventEnd - n.startTime, server: n.responseEnd - n.startTime };
      });
      loads.push(t.load);
      servers.push(t.server);
    }
    const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(`| ${name} | ${median(loads).toFixed(0)} ms | ${Math.max(...loads).toFixed(0)} ms | ${median(servers).toFixed(0)} ms |`);
  }
  await browser.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
