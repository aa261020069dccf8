// Takes the screenshots in docs/ from a running collector with --demo traffic.
//
// Usage: node screenshots.js BASE_URL OUT_DIR
//   e.g. cargo run --release -p fluoro-collector -- --demo &
//        node console/tests/browser/screenshots.js http://127.0.0.1:2020 docs

'use strict';

const path = require('path');
const { chromium } = require('playwright-core');

const [BASE, OUT] = process.argv.slice(2);

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

  await page.goto(`${BASE}/map?range=15m`);
  await page.click('svg.map .node[data-type="AWS::Lambda::Function"]');
  await page.screenshot({ path: path.join(OUT, 'console-map.png') });

  await page.goto(`${BASE}/traces?range=5m`);
  await page.screenshot({ path: path.join(OUT, 'console-traces.png') });

  await page.goto(`${BASE}/traces?range=5m&filter=${encodeURIComponent('service("inventory.internal") { fault }')}`);
  await Promise.all([page.waitForNavigation(), page.locator('#traces tbody td.id a').first().click()]);
  await page.locator('#timeline tr.row.fault').last().click();
  await page.locator('.timeline-section').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(OUT, 'console-timeline.png'), fullPage: true });
  await browser.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
