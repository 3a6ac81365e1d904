// Screenshots of the operator console of a running inferq (e.g. during a `replay`): the fleet view every EVERY_S
// seconds (SHOTS times), then the queues and throughput views and the timeline of the newest finished job.
// Environment: BASE (http://127.0.0.1:8080), KEY (operator key; empty in open mode), OUT (directory),
// PLAYWRIGHT_DIR (holds node_modules/playwright-core, default .ci/tools/playwright), CHROMIUM (/usr/bin/chromium),
// SHOTS (6), EVERY_S (10).
import { createRequire } from 'node:module';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const env = process.env;
const require = createRequire(join(resolve(env.PLAYWRIGHT_DIR || '.ci/tools/playwright'), 'noop.js'));
const { chromium } = require('playwright-core');
const OUT = env.OUT || 'load-tests/target/console';
mkdirSync(OUT, { recursive: true });
const userDataDir = mkdtempSync(join(tmpdir(), 'inferq-console-shots-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: env.CHROMIUM || '/usr/bin/chromium', headless: true, viewport: { width: 1600, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const page = context.pages()[0] || await context.newPage();
await page.goto((env.BASE || 'http://127.0.0.1:8080') + '/console/', { timeout: 120000 });
if (env.KEY) {
  await page.fill('#key', env.KEY);
  await page.click('#auth button[type=submit]');
}
await page.waitForSelector('#pools tbody tr', { timeout: 120000 });
const shots = Number(env.SHOTS || 6), every = Number(env.EVERY_S || 10);
for (let i = 1; i <= shots; i++) {
  await page.waitForTimeout(every * 1000);
  await page.screenshot({ path: join(OUT, `fleet-${String(i).padStart(2, '0')}.png`), fullPage: true });
  console.log('fleet screenshot ' + i);
}
await page.click('#tabs button[data-tab=queues]');
await page.waitForTimeout(500);
await page.screenshot({ path: join(OUT, 'queues.png'), fullPage: true });
await page.click('#tabs button[data-tab=throughput]');
await page.waitForTimeout(500);
await page.screenshot({ path: join(OUT, 'throughput.png'), fullPage: true });
await page.click('#tabs button[data-tab=jobs]');
await page.selectOption('#job-search select[name=status]', 'succeeded');
await page.click('#job-search button[type=submit]');
await page.waitForSelector('#job-list tr[data-job] a', { timeout: 120000 });
await page.click('#job-list tr[data-job] a');
await page.waitForSelector('[data-testid=timeline] [data-step=succeeded]', { timeout: 120000 });
await page.screenshot({ path: join(OUT, 'job-timeline.png'), fullPage: true });
console.log('screenshots in ' + OUT);
await context.close();
rmSync(userDataDir, { recursive: true, force: true });
