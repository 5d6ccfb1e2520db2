// deploy/grafana/baton.json against a real baton-proxy: a private redis-server and
// build/bin/baton-proxy (Redis lease backend, one leased route, admin on a free loopback
// port; no engine, which /metrics does not need), scraped once over GET /metrics.
//
// - the JSON is a dashboard Grafana can import: unique panel ids, grid positions inside
//   the 24 columns and not overlapping, every query on the ${datasource} variable,
//   instance and route variables from label_values;
// - every baton_* series an expression or a variable names is in the scrape (histograms
//   through their _bucket, _sum and _count series), with labels and label values the
//   scrape has, counters only through rate()/increase() and gauges never;
// - every family the scrape exposes is on at least one panel, so that a new metric
//   without a panel fails here (or is listed in `notOnTheDashboard` with a reason).
//
// Built-in modules only: `node --test grafana.test.mjs` from tests/deploy.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const DASHBOARD = path.join(ROOT, 'deploy/grafana/baton.json');
const BIN_DIR = process.env.BATON_BIN_DIR || path.join(ROOT, 'build/bin');
const READY_TIMEOUT_MS = 10_000;

// Families the dashboard leaves out on purpose, with the reason. Empty today.
const notOnTheDashboard = new Map([
  // ['baton_example_total', 'why no panel shows it'],
]);

// Labels Prometheus adds to every scraped series.
const TARGET_LABELS = new Set(['instance', 'job']);
const RANGE_FUNCTIONS = new Set(['rate', 'irate', 'increase']);
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

// ------------------------------------------------------------------------- processes

const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function launch(command, args, options = {}) {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.output = '';
  const collect = (chunk) => { child.output += chunk; };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  child.once('exit', () => children.delete(child));
  child.once('error', (error) => { child.output += `\n${command}: ${error.message}`; });
  return child;
}

const exited = (child) => child.exitCode !== null || child.signalCode !== null;

async function stop(child) {
  if (!child || exited(child)) return;
  const gone = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await gone;
  clearTimeout(timer);
}

// Polls `ready` until it returns a value, failing when the process exits or time runs out.
async function waitFor(child, what, ready) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const value = await ready();
    if (value !== undefined) return value;
    if (exited(child)) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) at start:\n${child.output}`);
    if (Date.now() > deadline) throw new Error(`${what} not ready in time:\n${child.output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function get(url) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return { status: response.status, body: await response.text() };
  } catch {
    return undefined;
  }
}

// --------------------------------------------------------------- Prometheus text format

// Families by name: { type, samples: Map(sample name -> [label objects]) }.
function parseScrape(text) {
  const families = new Map();
  const familyOf = (sample) => {
    if (families.has(sample)) return families.get(sample);
    for (const suffix of HISTOGRAM_SUFFIXES) {
      const base = sample.endsWith(suffix) ? families.get(sample.slice(0, -suffix.length)) : undefined;
      if (base && (base.type === 'histogram' || base.type === 'summary')) return base;
    }
    return undefined;
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = line.match(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/);
    if (type) {
      families.set(type[1], { name: type[1], type: type[2], samples: new Map() });
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/);
    assert.ok(sample, `not a sample line: ${line}`);
    const family = familyOf(sample[1]);
    assert.ok(family, `sample ${sample[1]} has no # TYPE`);
    const labels = {};
    for (const [, name, value] of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[name] = value;
    if (!family.samples.has(sample[1])) family.samples.set(sample[1], []);
    family.samples.get(sample[1]).push(labels);
  }
  return families;
}

// ------------------------------------------------------------------------------ PromQL

const stripStrings = (expr) => expr.replace(/"(?:[^"\\]|\\.)*"/g, (s) => '"' + ' '.repeat(s.length - 2) + '"');

// Every baton_* selector of an expression: name, matchers and the function it sits in.
function selectors(expr) {
  const bare = stripStrings(expr);
  const found = [];
  for (const match of bare.matchAll(/\b(baton_[a-zA-Z0-9_:]*)\b/g)) {
    const start = match.index;
    let end = start + match[1].length;
    const matchers = [];
    if (bare[end] === '{') {
      const close = bare.indexOf('}', end);
      assert.ok(close > end, `unclosed {…} after ${match[1]} in ${expr}`);
      for (const [, label, op, value] of expr.slice(end + 1, close)
        .matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g))
        matchers.push({ label, op, value });
      end = close + 1;
    }
    const range = bare.slice(end).match(/^\s*\[([^\]]*)\]/);
    const fn = bare.slice(0, start).match(/([a-zA-Z_]+)\s*\(\s*$/);
    found.push({ name: match[1], matchers, range: range?.[1], fn: fn?.[1] });
  }
  return found;
}

function groupingLabels(expr) {
  const labels = [];
  for (const [, list] of stripStrings(expr).matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g))
    labels.push(...list.split(',').map((s) => s.trim()).filter(Boolean));
  return labels;
}

function balanced(expr) {
  const pairs = { ')': '(', ']': '[', '}': '{' };
  const stack = [];
  for (const c of stripStrings(expr)) {
    if ('([{'.includes(c)) stack.push(c);
    else if (c in pairs && stack.pop() !== pairs[c]) return false;
  }
  return stack.length === 0;
}

// ---------------------------------------------------------------------------- dashboard

function allPanels(dashboard) {
  const list = [];
  for (const panel of dashboard.panels ?? []) {
    list.push(panel);
    for (const inner of panel.panels ?? []) list.push(inner);
  }
  return list;
}

const usesDatasourceVariable = (ref) =>
  ref !== null && typeof ref === 'object' && ['${datasource}', '$datasource'].includes(ref.uid);

const variableQuery = (variable) => (typeof variable.query === 'string' ? variable.query : variable.query?.query);

// ------------------------------------------------------------------------------- tests

describe('deploy/grafana/baton.json against a real /metrics scrape', () => {
  let redis;
  let proxy;
  let tmp;
  let families;
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
  const panels = allPanels(dashboard);
  const queried = panels.filter((panel) => panel.type !== 'row');
  const expressions = queried.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ panel: `panel ${panel.id} "${panel.title}"`, expr: target.expr })));

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-grafana-'));
    const redisPort = await freePort();
    redis = launch('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no', '--dir', tmp]);
    await waitFor(redis, 'redis-server', async () =>
      (/Ready to accept connections/.test(redis.output) ? true : undefined));

    const [listenPort, adminPort] = [await freePort(), await freePort()];
    const config = path.join(tmp, 'baton.yaml');
    fs.writeFileSync(config, [
      'instance_id: grafana-test',
      `listen: 127.0.0.1:${listenPort}`,
      'threads: 1',
      `upstream: { url: "http://127.0.0.1:${await freePort()}" }`,
      `admin: { listen: "127.0.0.1:${adminPort}" }`,
      'lease: { backend: redis }',
      `redis: { url: "redis://127.0.0.1:${redisPort}/0" }`,
      'routes:',
      '  - name: chat',
      '    match: { prefix: /chat, methods: [POST] }',
      '    lease: required',
      '    sse_done: { event: done }',
      '  - match: { prefix: / }',
      '    lease: none',
      '',
    ].join('\n'));
    proxy = launch(path.join(BIN_DIR, 'baton-proxy'), ['--config', config]);
    const scrape = await waitFor(proxy, 'baton-proxy', async () => {
      const response = await get(`http://127.0.0.1:${adminPort}/metrics`);
      return response?.status === 200 ? response.body : undefined;
    });
    families = parseScrape(scrape);
  });

  after(async () => {
    await stop(proxy);
    await stop(redis);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the scrape has the families a Redis-backed baton-proxy exports', () => {
    for (const name of ['baton_requests_total', 'baton_request_duration_seconds', 'baton_redis_up'])
      assert.ok(families.has(name), `${name} missing from the scrape`);
  });

  test('the JSON is a Grafana dashboard', () => {
    assert.equal(typeof dashboard.title, 'string');
    assert.match(dashboard.uid, /^[a-zA-Z0-9_-]{1,40}$/);
    assert.ok(Number.isInteger(dashboard.schemaVersion) && dashboard.schemaVersion >= 36,
      `schemaVersion ${dashboard.schemaVersion}`);
    assert.ok(dashboard.id === null || dashboard.id === undefined, 'a provisioned dashboard carries no id');
    assert.ok(queried.length > 0, 'no panels');

    const ids = new Set();
    for (const panel of panels) {
      assert.ok(Number.isInteger(panel.id) && panel.id > 0, `panel "${panel.title}": id ${panel.id}`);
      assert.ok(!ids.has(panel.id), `panel id ${panel.id} is used twice`);
      ids.add(panel.id);
      assert.equal(typeof panel.type, 'string', `panel ${panel.id}: type`);
      assert.ok(panel.title, `panel ${panel.id}: title`);
      const { x, y, w, h } = panel.gridPos ?? {};
      for (const [key, value] of Object.entries({ x, y, w, h }))
        assert.ok(Number.isInteger(value) && value >= 0, `panel ${panel.id}: gridPos.${key} = ${value}`);
      assert.ok(w > 0 && h > 0 && x + w <= 24, `panel ${panel.id}: gridPos ${JSON.stringify(panel.gridPos)}`);
    }

    const top = dashboard.panels;
    for (let i = 0; i < top.length; ++i)
      for (let j = i + 1; j < top.length; ++j) {
        const [a, b] = [top[i].gridPos, top[j].gridPos];
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        assert.ok(!overlap, `panels ${top[i].id} and ${top[j].id} overlap`);
      }

    for (const panel of queried) {
      const where = `panel ${panel.id} "${panel.title}"`;
      assert.ok(usesDatasourceVariable(panel.datasource), `${where}: datasource ${JSON.stringify(panel.datasource)}`);
      assert.ok(Array.isArray(panel.targets) && panel.targets.length > 0, `${where}: no targets`);
      const refIds = new Set();
      for (const target of panel.targets) {
        assert.ok(typeof target.expr === 'string' && target.expr.trim() !== '', `${where}: a target without expr`);
        assert.ok(target.refId && !refIds.has(target.refId), `${where}: refId ${target.refId} missing or repeated`);
        refIds.add(target.refId);
        if (target.datasource !== undefined)
          assert.ok(usesDatasourceVariable(target.datasource), `${where}: target ${target.refId} datasource`);
        assert.ok(balanced(target.expr), `${where}: unbalanced brackets in ${target.expr}`);
      }
    }
  });

  test('the datasource, instance and route variables', () => {
    const variables = new Map((dashboard.templating?.list ?? []).map((v) => [v.name, v]));
    const datasource = variables.get('datasource');
    assert.ok(datasource, 'no datasource variable');
    assert.equal(datasource.type, 'datasource');
    assert.equal(datasource.query, 'prometheus');

    for (const [name, label] of [['instance', 'instance'], ['route', 'route']]) {
      const variable = variables.get(name);
      assert.ok(variable, `no ${name} variable`);
      assert.equal(variable.type, 'query');
      assert.ok(usesDatasourceVariable(variable.datasource), `${name}: datasource`);
      const query = variableQuery(variable);
      const match = query?.match(/^label_values\(\s*(.+?)\s*,\s*([a-zA-Z_]\w*)\s*\)$/);
      assert.ok(match, `${name}: ${query} is not label_values(metric, label)`);
      assert.equal(match[2], label);
      const [selector] = selectors(match[1]);
      assert.ok(selector, `${name}: no baton_* metric in ${query}`);
      const family = [...families.values()].find((f) => f.samples.has(selector.name));
      assert.ok(family, `${name}: ${selector.name} is not in the scrape`);
      const labels = new Set(family.samples.get(selector.name).flatMap(Object.keys));
      assert.ok(labels.has(label) || TARGET_LABELS.has(label), `${name}: ${selector.name} has no label ${label}`);
    }
  });

  test('every series a panel queries is in the scrape, with its labels, and counters go through rate()', () => {
    const referenced = expressions.length;
    assert.ok(referenced > 0);
    for (const { panel, expr } of expressions) {
      const found = selectors(expr);
      assert.ok(found.length > 0, `${panel}: ${expr} names no baton_* series`);
      const labelsInExpr = new Set(TARGET_LABELS);
      for (const { name, matchers, range, fn } of found) {
        const where = `${panel}: ${name} in ${expr}`;
        const family = [...families.values()].find((f) => f.samples.has(name));
        assert.ok(family, `${where}: no such series in the scrape (exported: ${[...families.keys()].join(', ')})`);
        const samples = family.samples.get(name);
        const labels = new Set(samples.flatMap(Object.keys));
        labels.forEach((label) => labelsInExpr.add(label));

        for (const { label, op, value } of matchers) {
          assert.ok(labels.has(label) || TARGET_LABELS.has(label), `${where}: ${name} has no label ${label}`);
          if (op === '=' && !TARGET_LABELS.has(label) && !value.includes('$'))
            assert.ok(samples.some((s) => s[label] === value), `${where}: no series with ${label}="${value}"`);
        }
        const has = (label, variable) =>
          matchers.some((m) => m.label === label && m.op === '=~' && m.value === `$${variable}`);
        assert.ok(has('instance', 'instance'), `${where}: not filtered by instance=~"$instance"`);
        if (labels.has('route')) assert.ok(has('route', 'route'), `${where}: not filtered by route=~"$route"`);

        const cumulative = family.type === 'counter' || family.type === 'histogram' || family.type === 'summary';
        if (cumulative) {
          assert.ok(RANGE_FUNCTIONS.has(fn), `${where}: a ${family.type} series must go through rate() or increase()`);
          assert.ok(['$__rate_interval', '$__range', '$__interval'].includes(range),
            `${where}: range [${range}] should be $__rate_interval (or $__range)`);
        } else {
          assert.ok(!RANGE_FUNCTIONS.has(fn), `${where}: ${fn}() of a ${family.type}`);
        }
        if (name.endsWith('_bucket') && family.type === 'histogram') {
          assert.match(expr, /histogram_quantile\(/, `${where}: buckets without histogram_quantile`);
          assert.ok(groupingLabels(expr).includes('le'), `${where}: histogram_quantile needs "by (le)"`);
          labelsInExpr.add('le');
        }
      }
      for (const label of groupingLabels(expr))
        assert.ok(labelsInExpr.has(label), `${panel}: grouping by ${label}, which no series of ${expr} has`);
    }
  });

  test('every family baton-proxy exports is on a panel', () => {
    const used = new Set(expressions.flatMap(({ expr }) => selectors(expr).map((s) => s.name)));
    const missing = [];
    for (const family of families.values()) {
      if (notOnTheDashboard.has(family.name)) continue;
      if (![...family.samples.keys(), family.name].some((name) => used.has(name))) missing.push(family.name);
    }
    assert.deepEqual(missing, [], `families without a panel (add one, or list them in notOnTheDashboard with a reason)`);
    for (const name of notOnTheDashboard.keys())
      assert.ok(families.has(name), `notOnTheDashboard names ${name}, which baton no longer exports`);
  });
});
