// Real processes for the fault scenarios: redis-server, baton-proxy (its YAML written per
// scenario), the checker engine; signals, restarts, metrics, memory and descriptors.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { redisCommand } from './resp.mjs';

export const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.resolve(HERE, '../..');
export const BIN_DIR = process.env.BATON_BIN_DIR || path.join(ROOT, 'build', 'bin');

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const now = () => process.hrtime.bigint();
export const ms = (ns) => Number(ns) / 1e6;

const children = new Set();
const exitHooks = new Set();
// Runs at exit (normal, SIGINT, SIGTERM): for what is not a child process (a namespace).
export function atExit(fn) {
  exitHooks.add(fn);
  return () => exitHooks.delete(fn);
}
function killAll() {
  for (const child of children) {
    try { process.kill(child.pid, 'SIGCONT'); child.kill('SIGKILL'); } catch { /* gone */ }
  }
  for (const fn of exitHooks) {
    try { fn(); } catch { /* best effort */ }
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => { killAll(); process.exit(130); });
}

export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export function makeWorkdir(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `baton-faults-${name}-`));
}

// Spawns `command`; stdout and stderr go to <dir>/<name>.log (appended across restarts).
export function launch(name, command, args, { dir, env, onLine } = {}) {
  const logFile = path.join(dir, `${name}.log`);
  const out = fs.openSync(logFile, 'a');
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', onLine ? 'pipe' : out, out] });
  if (onLine) {
    let pending = '';
    child.stdout.on('data', (chunk) => {
      fs.writeSync(out, chunk);
      pending += chunk;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
  }
  child.logFile = logFile;
  child.exitedPromise = new Promise((resolve) => {
    child.once('exit', resolve);
    // A program that cannot be started: `exit` never comes.
    child.once('error', (error) => {
      fs.writeSync(out, `${command}: ${error.message}\n`);
      child.spawnError = error;
      resolve();
    });
  });
  children.add(child);
  child.exitedPromise.then(() => { children.delete(child); fs.closeSync(out); });
  return child;
}

export const alive = (child) => Boolean(child) && !child.spawnError && child.exitCode === null && child.signalCode === null;

export async function stopChild(child, signal = 'SIGTERM', graceMs = 5_000) {
  if (!alive(child)) return;
  try { process.kill(child.pid, 'SIGCONT'); } catch { /* gone */ }
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child.exitedPromise;
  clearTimeout(timer);
}

async function until(what, child, check, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch { /* not yet */ }
    if (child && !alive(child)) throw new Error(`${what} exited at start (${child.exitCode ?? child.signalCode}); see ${child.logFile}`);
    if (Date.now() > deadline) throw new Error(`${what} not ready in ${timeoutMs} ms; see ${child?.logFile}`);
    await sleep(50);
  }
}

export async function httpGet(url, { timeoutMs = 2_000, headers = {} } = {}) {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers });
  return { status: response.status, text: await response.text() };
}

// ----------------------------------------------------------------------------- Redis

export class Redis {
  constructor({ dir, port, binds = ['127.0.0.1'], name = 'redis', replicaOf = null }) {
    Object.assign(this, { dir, port, binds, name, replicaOf, child: null, starts: 0 });
  }

  get where() { return { host: '127.0.0.1', port: this.port }; }

  async start() {
    this.starts += 1;
    this.child = launch(this.name, 'redis-server', [
      '--port', String(this.port), '--bind', ...this.binds, '--save', '', '--appendonly', 'no',
      '--protected-mode', 'no', '--daemonize', 'no', '--loglevel', 'warning',
      // A replica writes the RDB of its full sync to disk: into the scenario's directory.
      '--dir', this.dir, '--dbfilename', `${this.name}.rdb`,
      ...(this.replicaOf ? ['--replicaof', '127.0.0.1', String(this.replicaOf)] : []),
    ], { dir: this.dir });
    await until('redis-server', this.child, async () => (await redisCommand(this.where, ['PING'], 500)) === 'PONG');
    return this;
  }

  signal(sig) { if (alive(this.child)) process.kill(this.child.pid, sig); }

  async kill() {
    if (!alive(this.child)) return;
    this.signal('SIGCONT');
    this.child.kill('SIGKILL');
    await this.child.exitedPromise;
  }

  // SIGKILL, then a new redis-server on the same port: no data at all.
  async restartEmpty(downMs = 0) {
    await this.kill();
    if (downMs > 0) await sleep(downMs);
    await this.start();
  }

  command(args, timeoutMs) { return redisCommand(this.where, args, timeoutMs); }

  async stop() { await stopChild(this.child, 'SIGKILL'); }
}

// ----------------------------------------------------------------------- the checker

export class Checker {
  constructor({ dir, hosts = ['127.0.0.1'], fenceCheck = false }) {
    Object.assign(this, { dir, hosts, fenceCheck, child: null, port: 0 });
  }

  async start() {
    const args = [path.join(HERE, 'checker-engine.mjs')];
    for (const host of this.hosts) args.push('--host', host);
    if (this.fenceCheck) args.push('--fence-check');
    let resolveListening;
    const listening = new Promise((resolve) => { resolveListening = resolve; });
    this.child = launch('checker', process.execPath, args, {
      dir: this.dir,
      onLine: (line) => { const m = line.match(/^listening (\d+)/); if (m) resolveListening(Number(m[1])); },
    });
    this.port = await Promise.race([listening, until('checker engine', this.child, () => false, 10_000)]);
    return this;
  }

  url(p) { return `http://127.0.0.1:${this.port}${p}`; }

  async records() {
    const response = await fetch(this.url('/records'), { signal: AbortSignal.timeout(30_000) });
    const body = await response.json();
    for (const r of body.records) {
      for (const key of ['enter', 'read', 'write', 'exit']) r[key] = r[key] === null ? null : BigInt(r[key]);
      r.fence = r.fence === null ? null : BigInt(r.fence);
    }
    return body;
  }

  async setFenceCheck(on) {
    await fetch(this.url('/config'), { method: 'POST', body: JSON.stringify({ fenceCheck: on }) });
  }

  async reset() { await fetch(this.url('/reset'), { method: 'POST' }); }

  async stop() { await stopChild(this.child); }
}

// ------------------------------------------------------------------------ baton-proxy

// The admin token of every baton the harness starts (a non-loopback admin needs one).
export const ADMIN_TOKEN = 'faults-harness-token';
const ADMIN_HEADERS = { authorization: `Bearer ${ADMIN_TOKEN}` };

export function batonYaml(o) {
  return `# written by tests/faults for one scenario
instance_id: ${o.name}
listen: ${o.listenHost ?? '127.0.0.1'}:${o.port}
threads: ${o.threads ?? 1}
drain_timeout: 2s
upstream:
  url: http://${o.engineHost ?? '127.0.0.1'}:${o.enginePort}
  connect_timeout: 1s
  read_timeout: 30s
admin:
  listen: ${o.listenHost ?? '127.0.0.1'}:${o.adminPort}
  token: ${ADMIN_TOKEN}
lease:
  backend: redis
  ttl: ${o.ttl ?? '2s'}
  wait_timeout: ${o.waitTimeout ?? '5s'}
  max_hold: ${o.maxHold ?? '1m'}
  max_waiters: ${o.maxWaiters ?? 64}
  on_backend_down: fail_closed
redis:
  url: redis://${o.redisHost ?? '127.0.0.1'}:${o.redisPort}/0
  key_prefix: baton
  connect_timeout: ${o.redisConnectTimeout ?? '500ms'}
  command_timeout: ${o.redisCommandTimeout ?? '1s'}
session:
  sources: [ { header: X-Session-Id } ]
logging: { level: info, format: json, access_log: true }
routes:
  - name: work
    match: { prefix: /work, methods: [POST] }
    lease: required
    sse_done: { event: done }
  - name: other
    match: { prefix: / }
    lease: none
`;
}

export class Baton {
  // o: name, dir, enginePort, redisPort, ttl, waitTimeout, ... ; netns: run inside it
  constructor(o) {
    Object.assign(this, { child: null, starts: 0 }, o);
    this.host = o.listenHost ?? '127.0.0.1';
  }

  async start() {
    if (!this.port) this.port = await freePort();
    if (!this.adminPort) this.adminPort = await freePort();
    this.configFile = path.join(this.dir, `${this.name}.yaml`);
    fs.writeFileSync(this.configFile, batonYaml(this));
    const bin = path.join(BIN_DIR, 'baton-proxy');
    const [command, args] = this.netns
      ? ['ip', ['netns', 'exec', this.netns, bin, '--config', this.configFile]]
      : [bin, ['--config', this.configFile]];
    this.starts += 1;
    this.child = launch(this.name, command, args, { dir: this.dir });
    this.pid = this.child.pid;
    await until(this.name, this.child, async () => (await httpGet(this.adminUrl('/readyz'), { timeoutMs: 500, headers: ADMIN_HEADERS })).status === 200);
    return this;
  }

  // Until /readyz says Redis and the engine are reachable.
  async waitReady(timeoutMs = 10_000) {
    await until(`${this.name} ready`, this.child, async () => (await httpGet(this.adminUrl('/readyz'), { timeoutMs: 500, headers: ADMIN_HEADERS })).status === 200, timeoutMs);
  }

  adminUrl(p) { return `http://${this.host}:${this.adminPort}${p}`; }
  get url() { return `http://${this.host}:${this.port}`; }
  get alive() { return alive(this.child); }

  signal(sig) { if (alive(this.child)) process.kill(this.child.pid, sig); }

  async kill() {
    if (!alive(this.child)) return;
    this.child.kill('SIGKILL');
    await this.child.exitedPromise;
  }

  async restart() {
    await this.kill();
    await this.start();
  }

  // The baton_* samples of /metrics: { 'name{labels}': value }.
  async metrics() {
    const { text } = await httpGet(this.adminUrl('/metrics'), { timeoutMs: 3_000, headers: ADMIN_HEADERS });
    const out = {};
    for (const line of text.split('\n')) {
      const m = line.match(/^(baton_[a-zA-Z0-9_]+(?:\{[^}]*\})?) (\S+)$/);
      if (m) out[m[1]] = Number(m[2]);
    }
    return out;
  }

  usage() { return processUsage(this.child?.pid); }

  async stop() { await stopChild(this.child); }
}

// Sum of the samples whose name (labels stripped) is `name`, optionally filtered by labels.
export function metricSum(metrics, name, labelFilter = '') {
  let total = 0;
  for (const [key, value] of Object.entries(metrics)) {
    const base = key.replace(/\{.*$/, '');
    if (base === name && key.includes(labelFilter)) total += value;
  }
  return total;
}

// Resident memory (KiB) and open descriptors of a process, from /proc.
export function processUsage(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? NaN);
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    return { rssKb, fds };
  } catch {
    return { rssKb: NaN, fds: NaN };
  }
}
