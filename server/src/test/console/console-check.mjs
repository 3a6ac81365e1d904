// Drives the inferq operator console in Debian's Chromium (headless, through playwright-core) and checks what an
// operator would: pools, lanes, a job's status and timeline, cancel from the page, replay a failed delivery.
// Environment: BASE (http://127.0.0.1:port), KEY (operator key), POOLS (comma-separated ids), DONE_JOB, CANCEL_JOB (a job
// waiting in the batch lane),
// DELIVERY, OUT (screenshot directory), PLAYWRIGHT_DIR (a directory holding node_modules/playwright-core),
// CHROMIUM (default /usr/bin/chromium). Prints one JSON line with what it saw; exits 1 on the first failed check.
import { createRequire } from 'node:module';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = process.env;
const require = createRequire(join(env.PLAYWRIGHT_DIR, 'noop.js'));
const { chromium } = require('playwright-core');
const OUT = env.OUT;
mkdirSync(OUT, { recursive: true });
const seen = {};
const userDataDir = mkdtempSync(join(tmpdir(), 'inferq-console-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1440, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const page = context.pages()[0] || await context.newPage();
const external = [];
page.on('request', r => { if (!r.url().startsWith(env.BASE)) external.push(r.url()); });
const pageErrors = [];
page.on('pageerror', e => pageErrors.push(String(e)));

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    await page.screenshot({ path: join(OUT, 'console-failed-' + name + '.png'), fullPage: true }).catch(() => {});
    console.log(JSON.stringify({ ok: false, step: name, error: String(e), seen, pageErrors }));
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
    process.exit(1);
  }
}
const T = { timeout: 30000 };

await step('open', async () => {
  await page.goto(env.BASE + '/console/');
  await page.fill('#key', env.KEY);
  await page.click('#auth button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#who')?.textContent === 'operator', null, T);
});

await step('fleet', async () => {
  const pools = env.POOLS.split(',');
  for (const p of pools) await page.waitForSelector(`#pools tr[data-pool="${p}"]`, T);
  seen.pools = await page.$$eval('#pools tbody tr', rows => rows.map(r => r.dataset.pool));
  if (seen.pools.length !== pools.length) throw new Error('pools shown: ' + seen.pools);
  await page.waitForTimeout(2500); // one more poll, so the sparkline has two points
  await page.screenshot({ path: join(OUT, 'console-fleet.png'), fullPage: true });
});

await step('queues', async () => {
  await page.click('#tabs button[data-tab=queues]');
  await page.waitForSelector('#lanes [data-lane=interactive]', T);
  await page.waitForSelector('#lanes [data-lane=batch]', T);
  // CANCEL_JOB waits in the batch lane: the lane's depth shows it
  await page.waitForFunction(() => Number(document.querySelector('#lanes [data-lane=batch] b').textContent.replace(/\D/g, '')) >= 1,
    null, T);
  await page.waitForSelector('#groups tbody td', T);
  seen.lanes = await page.$$eval('#lanes [data-lane]', cards => cards.map(c => c.dataset.lane + ':' + c.querySelector('b').textContent));
  await page.screenshot({ path: join(OUT, 'console-queues.png'), fullPage: true });
});

await step('job', async () => {
  await page.click('#tabs button[data-tab=jobs]');
  await page.fill('#job-search input[name=id]', env.DONE_JOB);
  await page.click('#job-search button[type=submit]');
  const cell = `#job-list tr[data-job="${env.DONE_JOB}"] td[data-status]`;
  await page.waitForSelector(cell, T);
  seen.doneStatus = await page.textContent(cell);
  if (seen.doneStatus !== 'succeeded') throw new Error('job status shown: ' + seen.doneStatus);
  await page.click(`#job-list tr[data-job="${env.DONE_JOB}"] a`);
  await page.waitForSelector('[data-testid=timeline] [data-step=succeeded]', T);
  seen.timeline = await page.$$eval('[data-testid=timeline] [data-step]', s => s.map(x => x.dataset.step));
  for (const s of ['queued', 'dispatched', 'running', 'succeeded']) {
    if (!seen.timeline.includes(s)) throw new Error('timeline lacks ' + s + ': ' + seen.timeline);
  }
  await page.screenshot({ path: join(OUT, 'console-job-timeline.png'), fullPage: true });
});

await step('cancel', async () => {
  await page.fill('#job-search input[name=id]', env.CANCEL_JOB);
  await page.click('#job-search button[type=submit]');
  const button = `#job-list button[data-cancel="${env.CANCEL_JOB}"]`;
  await page.waitForSelector(button, T);
  seen.beforeCancel = await page.textContent(`#job-list tr[data-job="${env.CANCEL_JOB}"] td[data-status]`);
  await page.click(button);
  const cell = `#job-list tr[data-job="${env.CANCEL_JOB}"] td[data-status]`;
  const deadline = Date.now() + 30000;
  for (;;) {
    await page.waitForSelector(cell, T);
    seen.afterCancel = await page.textContent(cell);
    if (seen.afterCancel === 'cancelled') break;
    if (Date.now() > deadline) throw new Error('status after cancel: ' + seen.afterCancel);
    await page.waitForTimeout(500);
    await page.click('#job-search button[type=submit]'); // the view learns the cancelled event through Kafka
  }
});

await step('webhooks', async () => {
  await page.click('#tabs button[data-tab=webhooks]');
  const button = `#deliveries tr[data-delivery="${env.DELIVERY}"] button[data-replay]`;
  await page.waitForSelector(button, T);
  await page.screenshot({ path: join(OUT, 'console-webhooks.png'), fullPage: true });
  await page.click(button);
  await page.waitForFunction(id => document.querySelector('#status').textContent === 'replayed ' + id
      || !document.querySelector(`#deliveries tr[data-delivery="${id}"]`), env.DELIVERY, T);
  seen.replayed = env.DELIVERY;
});

await step('kafka', async () => {
  await page.click('#tabs button[data-tab=kafka]');
  await page.waitForSelector('#kafka-view tr[data-topic="inferq.requests"]', T);
  seen.topics = await page.$$eval('#kafka-view tr[data-topic]', r => r.length);
  await page.screenshot({ path: join(OUT, 'console-kafka.png'), fullPage: true });
});

await step('batches', async () => {
  await page.click('#tabs button[data-tab=batches]');
  await page.waitForSelector('#batch-view [data-testid=batch-list]', T);
  seen.batches = await page.$$eval('#batch-view tr[data-batch]', r => r.length);
});

await step('throughput', async () => {
  await page.click('#tabs button[data-tab=throughput]');
  await page.waitForSelector('#chart-rate svg path', T);
  await page.screenshot({ path: join(OUT, 'console-throughput.png'), fullPage: true });
});

await step('offline', async () => {
  if (external.length) throw new Error('the page requested other origins: ' + external.slice(0, 5));
  if (pageErrors.length) throw new Error('page errors: ' + pageErrors.slice(0, 5));
});

await context.close();
rmSync(userDataDir, { recursive: true, force: true });
console.log(JSON.stringify({ ok: true, seen }));
