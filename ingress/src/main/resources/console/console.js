// inferq operator console: polls the read-only JSON API under /v1/console/ (no page reloads, nothing from the network
// beyond this server). All text from the server is inserted as text, never as HTML.
import { lineChart, sparkline } from './charts.js';

const POLL_MS = 2000;
const MAX_SAMPLES = 300;
const state = { tab: 'fleet', samples: [], lastT: 0, overview: null, openJob: null, busy: {} };

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c == null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
const $ = id => document.getElementById(id);
const num = v => v == null ? '–' : typeof v === 'number' ? v.toLocaleString() : v;
const pct = v => v == null ? '–' : (v * 100).toFixed(0) + '%';
const age = ms => ms == null ? '–' : ms < 1000 ? ms + ' ms' : ms < 120000 ? (ms / 1000).toFixed(1) + ' s' : (ms / 60000).toFixed(1) + ' min';
const time = s => s == null ? '–' : new Date(s * 1000).toLocaleTimeString();
function bar(frac, label) {
  const f = Math.max(0, Math.min(1, frac || 0));
  return h('span', {}, h('span', { class: 'bar' + (frac > 1 ? ' over' : f > 0.85 ? ' hot' : '') }, h('i', { style: `width:${(f * 100).toFixed(1)}%` })),
    ' ', label ?? pct(frac));
}

async function api(path, options = {}) {
  const key = sessionStorage.getItem('inferq-key');
  const headers = { ...(options.headers || {}) };
  if (key) headers.Authorization = 'Bearer ' + key;
  const r = await fetch(path, { ...options, headers, cache: 'no-store' });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(body.error?.message || ('HTTP ' + r.status));
    err.status = r.status;
    throw err;
  }
  return body;
}

function setStatus(text, bad) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('err', !!bad);
}

// ---- overview: fleet, queues, throughput ---------------------------------------------------------------------------

async function pollOverview() {
  try {
    const o = await api('/v1/console/overview?since=' + state.lastT);
    state.overview = o;
    for (const s of o.throughput.samples) state.samples.push(s);
    if (state.samples.length > MAX_SAMPLES) state.samples.splice(0, state.samples.length - MAX_SAMPLES);
    if (state.samples.length) state.lastT = state.samples[state.samples.length - 1].t;
    $('who').textContent = o.scope.operator ? 'operator' : 'tenant ' + o.scope.tenant;
    setStatus('updated ' + time(o.generated_at));
    renderFleet(o);
    renderQueues(o);
    if (state.tab === 'throughput') renderCharts();
  } catch (e) {
    setStatus(e.status === 401 ? 'enter an API key (a tenant key or the operator key)' : 'error: ' + e.message, true);
  }
}

function renderFleet(o) {
  const util = id => state.samples.map(s => s.gauges['utilisation.' + id] ?? null);
  $('pools').tBodies[0].replaceChildren(...o.pools.map(p => h('tr', { 'data-pool': p.id },
    h('td', {}, p.id), h('td', {}, p.chip_name + ' ×' + p.chips_per_instance), h('td', {}, p.model),
    h('td', { class: 'num' }, p.instances),
    h('td', {}, bar(p.credits_total ? (p.credits_in_use ?? 0) / p.credits_total : 0, num(p.credits_in_use) + ' / ' + p.credits_total)),
    h('td', { class: 'num' }, pct(p.utilisation)), h('td', {}, sparkline(util(p.id).slice(-60))),
    h('td', { class: 'num' }, num(p.batches_in_flight)),
    h('td', { class: 'num' }, p.slots == null ? '–' : num(p.busy_slots) + ' / ' + num(p.slots)),
    h('td', {}, pct(p.kv_hit_ratio.local) + ' / ' + pct(p.kv_hit_ratio.shared)),
    h('td', { class: 'num' }, num(p.engine_errors)), h('td', { class: 'num' }, num(p.back_pressure)))));
  const last = state.samples[state.samples.length - 1];
  const card = (v, label) => h('div', { class: 'card' }, h('b', {}, v), h('span', {}, label));
  $('fleet-totals').replaceChildren(
    card(o.pools.length, 'pools'),
    card(o.pools.reduce((a, p) => a + p.instances, 0), 'instances'),
    card(num(o.pools.reduce((a, p) => a + (p.batches_in_flight || 0), 0)), 'batches in flight'),
    card(last ? last.in.toFixed(1) : '–', 'jobs/s in'), card(last ? last.out.toFixed(1) : '–', 'jobs/s out'),
    card(num(o.totals.jobs_in), 'jobs in (since start)'), card(num(o.totals.jobs_out), 'jobs out'));
}

function renderQueues(o) {
  const q = o.queues;
  if (!q.available) {
    $('lanes').replaceChildren(h('p', { class: 'empty' }, 'Queues: ' + (q.reason || 'not available in this process')));
  } else {
    $('lanes').replaceChildren(...q.lanes.map(l => h('div', { class: 'card', 'data-lane': l.lane },
      h('b', {}, num(l.jobs)), h('span', {}, l.lane + ' lane · oldest ' + age(l.oldest_age_ms)))),
      h('div', { class: 'card' }, h('b', {}, num(q.max_queued_jobs)), h('span', {}, 'queue bound')));
    $('groups').tBodies[0].replaceChildren(...(q.groups.length ? q.groups.map(g => h('tr', {},
      h('td', {}, g.lane), h('td', {}, g.model), h('td', { class: 'num' }, g.bucket_max_tokens == null ? '∞' : num(g.bucket_max_tokens)),
      h('td', { class: 'num' }, num(g.jobs)), h('td', { class: 'num' }, num(g.prompt_tokens)), h('td', { class: 'num' }, age(g.oldest_age_ms))))
      : [h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'no job is waiting'))]));
    $('tenants').replaceChildren(...(q.tenants.length ? q.tenants.map(t => h('div', {},
      h('span', { style: 'display:inline-block;width:140px' }, t.tenant), bar(t.quota_tokens ? t.queued_tokens / t.quota_tokens : 0,
        num(t.queued_tokens) + ' / ' + num(t.quota_tokens) + ' tokens')))
      : [h('p', { class: 'empty' }, 'no tenant has queued tokens')]));
  }
  const fair = o.fairness;
  $('fairness').tBodies[0].replaceChildren(...(fair && fair.available && fair.tenants.length ? fair.tenants.map(t => h('tr', {},
    h('td', {}, t.tenant), h('td', {}, t.model), h('td', {}, t.lane), h('td', { class: 'num' }, num(t.service_tokens)),
    h('td', { class: 'num' }, num(t.backlog_jobs)), h('td', { class: 'num' }, num(t.virtual_counter_tokens))))
    : [h('tr', {}, h('td', { colspan: 6, class: 'empty' }, (fair && fair.reason) || 'no tenant has queued work'))]));
  const a = o.admission;
  $('rejections').tBodies[0].replaceChildren(...(a.rejections.length ? a.rejections.map(r => h('tr', {},
    h('td', {}, r.stage), h('td', {}, r.code), h('td', {}, r.lane ?? ''), h('td', { class: 'num' }, num(r.count))))
    : [h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'no rejection'))]));
  const card = (v, label) => h('div', { class: 'card' }, h('b', {}, num(v)), h('span', {}, label));
  $('expiries').replaceChildren(card(a.expired.interactive, 'expired (interactive)'), card(a.expired.batch, 'expired (batch)'),
    card(a.cancelled_while_queued, 'cancelled while queued'), card(a.dead_lettered, 'requests dead-lettered'),
    card(a.webhooks_dead_lettered, 'webhooks dead-lettered'));
}

function renderCharts() {
  const s = state.samples;
  const pts = f => s.map(x => [x.t, f(x)]);
  lineChart($('chart-rate'), [{ name: 'in', points: pts(x => x.in) }, { name: 'out', points: pts(x => x.out) }]);
  lineChart($('chart-wait'), [{ name: 'p50', points: pts(x => x.wait_p50_ms) }, { name: 'p99', points: pts(x => x.wait_p99_ms) }]);
  lineChart($('chart-e2e'), [{ name: 'p50', points: pts(x => x.e2e_p50_ms) }, { name: 'p99', points: pts(x => x.e2e_p99_ms) }]);
  lineChart($('chart-depth'), [{ name: 'interactive', points: pts(x => x.gauges['queued.interactive'] ?? null) },
    { name: 'batch', points: pts(x => x.gauges['queued.batch'] ?? null) }]);
}

// ---- jobs ----------------------------------------------------------------------------------------------------------

async function searchJobs(ev) {
  ev?.preventDefault();
  const f = new FormData($('job-search'));
  const q = new URLSearchParams();
  for (const [k, v] of f.entries()) if (v) q.set(k, v);
  q.set('limit', '50');
  try {
    const page = await api('/v1/console/jobs?' + q);
    $('job-list').tBodies[0].replaceChildren(...(page.data.length ? page.data.map(jobRow)
      : [h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'no job found'))]));
  } catch (e) {
    setStatus('job search: ' + e.message, true);
  }
}

function jobRow(j) {
  const active = ['queued', 'dispatched', 'running'].includes(j.status);
  return h('tr', { 'data-job': j.id },
    h('td', {}, h('a', { href: '#', onclick: e => { e.preventDefault(); openJob(j.id); } }, j.id)),
    h('td', {}, j.tenant), h('td', { class: 'status-' + j.status, 'data-status': j.status }, j.status), h('td', {}, j.model),
    h('td', {}, j.priority), h('td', {}, time(j.created_at)), h('td', {}, j.pool ?? ''),
    h('td', {}, active ? h('button', { class: 'danger', 'data-cancel': j.id, onclick: () => cancelJob(j.id) }, 'Cancel') : ''));
}

async function cancelJob(id) {
  try {
    await api('/v1/console/jobs/' + encodeURIComponent(id) + '/cancel', { method: 'POST' });
    setStatus('cancelled ' + id);
  } catch (e) {
    setStatus('cancel ' + id + ': ' + e.message, true);
  }
  await searchJobs();
  if (state.openJob === id) await pollJob();
}

async function openJob(id) {
  state.openJob = id;
  await pollJob();
  $('job-detail').scrollIntoView({ block: 'start' });
}

async function pollJob() {
  const id = state.openJob;
  if (!id) return;
  try {
    const j = await api('/v1/console/jobs/' + encodeURIComponent(id));
    const terminal = ['succeeded', 'failed', 'cancelled', 'expired'];
    const steps = j.timeline.map(s => h('div', { class: 'step' + (terminal.includes(s.status) ? ' terminal ' + s.status : ''), 'data-step': s.status },
      h('b', {}, s.status), h('small', {}, time(s.at)), h('small', {}, s.since_queued_ms == null ? '' : '+' + age(s.since_queued_ms)),
      s.pool ? h('small', {}, 'pool ' + s.pool + (s.chip ? ' (' + s.chip + ')' : '')) : null,
      s.dispatch ? h('small', {}, 'batch ' + s.dispatch) : null));
    const active = !terminal.includes(j.status);
    $('job-detail').replaceChildren(
      h('h2', {}, 'Job ', j.id, ' — ', h('span', { class: 'status-' + j.status, 'data-testid': 'job-status' }, j.status),
        active ? h('button', { class: 'danger', style: 'margin-left:10px', onclick: () => cancelJob(j.id) }, 'Cancel') : null),
      h('div', { class: 'timeline', 'data-testid': 'timeline' }, steps),
      h('table', {}, h('tbody', {},
        ...[['tenant', j.tenant], ['model', j.model], ['lane', j.priority], ['prompt tokens', j.prompt_tokens], ['max tokens', j.max_tokens],
          ['source', j.source], ['pool', j.pool], ['chip', j.chip], ['dispatch', j.dispatch_id], ['batch', j.batch_id], ['webhook', j.webhook],
          ['metadata', JSON.stringify(j.metadata)], ['error', j.error ? j.error.code + ': ' + j.error.message : null]]
          .filter(([, v]) => v != null && v !== '').map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, String(v)))))),
      j.result?.choices ? h('pre', {}, j.result.choices[0].message.content) : null);
  } catch (e) {
    $('job-detail').replaceChildren(h('p', { class: 'empty' }, 'job ' + id + ': ' + e.message));
  }
}

// ---- webhooks, kafka, batches --------------------------------------------------------------------------------------

async function pollWebhooks() {
  try {
    const page = await api('/v1/console/webhooks?status=failed&limit=50');
    $('deliveries').tBodies[0].replaceChildren(...(page.data.length ? page.data.map(d => h('tr', { 'data-delivery': d.id },
      h('td', {}, d.id), h('td', {}, d.tenant), h('td', {}, d.job_id), h('td', {}, d.event_type), h('td', {}, d.url),
      h('td', { class: 'status-' + (d.status === 'failed' ? 'failed' : 'queued') }, d.status), h('td', { class: 'num' }, d.attempts),
      h('td', { class: 'num' }, d.last_status_code ?? '–'), h('td', {}, d.last_error ?? ''), h('td', {}, time(d.updated_at)),
      h('td', {}, d.status === 'failed' ? h('button', { 'data-replay': d.id, onclick: () => replay(d.id) }, 'Replay') : '')))
      : [h('tr', {}, h('td', { colspan: 11, class: 'empty' }, 'no failed delivery'))]));
  } catch (e) {
    setStatus('webhooks: ' + e.message, true);
  }
}

async function replay(id) {
  try {
    await api('/v1/console/webhooks/' + encodeURIComponent(id) + '/replay', { method: 'POST' });
    setStatus('replayed ' + id);
  } catch (e) {
    setStatus('replay ' + id + ': ' + e.message, true);
  }
  await pollWebhooks();
}

async function pollKafka() {
  try {
    const k = await api('/v1/console/kafka');
    if (!k.available) {
      $('kafka-view').replaceChildren(h('p', { class: 'empty' }, 'Kafka view not available in this process'));
      return;
    }
    $('kafka-view').replaceChildren(
      h('h2', {}, 'Topics (read ' + time(k.read_at) + ')'),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'topic'), h('th', { class: 'num' }, 'partitions'), h('th', { class: 'num' }, 'end offsets (sum)'), h('th', {}, 'per partition'))),
        h('tbody', {}, ...k.topics.map(t => h('tr', { 'data-topic': t.name }, h('td', {}, t.name), h('td', { class: 'num' }, t.partitions),
          h('td', { class: 'num' }, num(t.end_offsets)), h('td', {}, t.by_partition.map(p => p.partition + ':' + p.end_offset).join('  ')))))),
      h('h2', {}, 'Consumer groups'),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'group'), h('th', {}, 'role'), h('th', { class: 'num' }, 'lag'), h('th', {}, 'topics'))),
        h('tbody', {}, ...k.groups.map(g => h('tr', {}, h('td', {}, g.group ?? '—'), h('td', {}, g.role),
          h('td', { class: 'num' }, g.group == null ? (g.caught_up ? 'caught up' : 'replaying') : num(g.lag)),
          h('td', {}, (g.topics || []).map(t => t.topic + ' lag ' + t.lag).join(', ')))))));
  } catch (e) {
    $('kafka-view').replaceChildren(h('p', { class: 'empty' }, e.status === 403 ? 'The Kafka view needs the operator key.' : 'Kafka: ' + e.message));
  }
}

const BATCH_CANCELLABLE = ['validating', 'in_progress'];

// A file of the caller's tenant, fetched with the API key (a plain link would not send it) and saved.
async function download(fileId, ev) {
  ev.preventDefault();
  try {
    const key = sessionStorage.getItem('inferq-key');
    const r = await fetch('/v1/files/' + encodeURIComponent(fileId) + '/content',
      { headers: key ? { Authorization: 'Bearer ' + key } : {}, cache: 'no-store' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const url = URL.createObjectURL(await r.blob());
    const a = h('a', { href: url, download: fileId + '.jsonl' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    setStatus('download ' + fileId + ': ' + e.message, true);
  }
}

async function cancelBatch(id) {
  try {
    await api('/v1/batches/' + encodeURIComponent(id) + '/cancel', { method: 'POST' });
    setStatus('cancelling ' + id);
  } catch (e) {
    setStatus('cancel ' + id + ': ' + e.message, true);
  }
  await pollBatches();
}

async function pollBatches() {
  try {
    const b = await api('/v1/console/batches');
    if (!b.available) {
      $('batch-view').replaceChildren(h('p', { class: 'empty', 'data-testid': 'batches-unavailable' }, b.message || 'Batch API not available'));
      return;
    }
    // cancel and downloads go through the tenant API: the operator key (no tenant of its own) cannot use them
    const scope = state.overview?.scope;
    const actions = !(scope && scope.operator && scope.tenant == null);
    const file = (id, label) => id ? h('a', { href: '/v1/files/' + encodeURIComponent(id) + '/content', 'data-file': id,
      onclick: ev => download(id, ev) }, label) : null;
    $('batch-view').replaceChildren(h('table', { 'data-testid': 'batch-list' },
      h('thead', {}, h('tr', {}, ...['batch', 'tenant', 'status', 'created', 'progress', 'files', ''].map(t => h('th', {}, t)))),
      h('tbody', {}, ...(b.data.length ? b.data.map(x => {
        const c = x.request_counts || { total: 0, completed: 0, failed: 0 };
        const done = c.completed + c.failed;
        return h('tr', { 'data-batch': x.id },
          h('td', {}, x.id), h('td', {}, x.tenant ?? ''), h('td', { class: 'status-' + x.status }, x.status), h('td', {}, time(x.created_at)),
          h('td', {}, bar(c.total ? done / c.total : 0, c.completed + ' done, ' + c.failed + ' failed of ' + c.total)),
          h('td', {}, actions ? [file(x.output_file_id, 'output'), x.output_file_id && x.error_file_id ? ' ' : null, file(x.error_file_id, 'errors')]
            : [x.output_file_id ? 'output ' + x.output_file_id : null, x.error_file_id ? ' errors ' + x.error_file_id : null]),
          h('td', {}, actions && BATCH_CANCELLABLE.includes(x.status)
            ? h('button', { class: 'danger', 'data-cancel-batch': x.id, onclick: () => cancelBatch(x.id) }, 'Cancel') : ''));
      }) : [h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'no batch'))]))),
      h('p', { class: 'note' }, actions ? '' : 'Cancel and file downloads need the tenant\'s API key.'));
  } catch (e) {
    $('batch-view').replaceChildren(h('p', { class: 'empty' }, 'Batches: ' + e.message));
  }
}

// ---- loop ----------------------------------------------------------------------------------------------------------

function showTab(tab) {
  state.tab = tab;
  document.querySelectorAll('#tabs button').forEach(b => b.classList.toggle('active', b.dataset.tab === tab));
  document.querySelectorAll('.tab').forEach(s => s.classList.toggle('active', s.id === tab));
  history.replaceState(null, '', '#' + tab);
  tick(true);
}

let ticks = 0;
let ticking = false;
async function tick(now) {
  if (!now) ticks++;
  if (document.hidden || ticking) return;
  ticking = true;
  try {
    await poll(now);
  } finally {
    ticking = false;
  }
}

async function poll(now) {
  await pollOverview();
  if (state.tab === 'webhooks') await pollWebhooks();
  if (state.tab === 'jobs') await pollJob();
  if (state.tab === 'kafka' && (now || ticks % 3 === 0)) await pollKafka();
  if (state.tab === 'batches' && (now || ticks % 3 === 0)) await pollBatches();
}

document.querySelectorAll('#tabs button').forEach(b => b.addEventListener('click', () => showTab(b.dataset.tab)));
$('auth').addEventListener('submit', e => {
  e.preventDefault();
  const k = $('key').value.trim();
  if (k) sessionStorage.setItem('inferq-key', k); else sessionStorage.removeItem('inferq-key');
  $('key').value = '';
  state.samples = [];
  state.lastT = 0;
  tick(true);
  if (state.tab === 'jobs') searchJobs();
});
$('job-search').addEventListener('submit', searchJobs);
document.querySelector('[data-tab="jobs"]').addEventListener('click', () => searchJobs());
const initial = location.hash.slice(1);
if (initial && document.getElementById(initial)?.classList.contains('tab')) showTab(initial); else tick(true);
if (initial === 'jobs') searchJobs();
setInterval(() => tick(false), POLL_MS);
