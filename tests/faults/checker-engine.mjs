// The checker engine: an HTTP "engine" for baton-proxy that checks baton's promises
// instead of trusting them. One process serves the traffic of every baton, so every
// timestamp comes from one monotonic clock (process.hrtime.bigint(), CLOCK_MONOTONIC,
// comparable with the driver's own timestamps on the same machine).
//
// For each request of a session it records (session, request id, fence, enter, exit,
// outcome), and does the Jepsen lock-set workload: it reads the session's set, works
// (streams tokens, which widens the race), then writes back the set it read plus the
// request's own element (its X-Request-Id). Two requests of a session that overlap lose
// one element: the later write overwrites the earlier. A client that saw `event: done`
// has its element in the final set, or the set lost it.
//
// With fence checking on (FENCE_CHECK=1, --fence-check, or POST /config), a request whose
// Baton-Fence is older than the newest one seen for its session is refused: with 409 when
// it arrives, with `event: error` (`stale_fence`) when it tries to write. This is what an
// engine that honours fences does, and what keeps it safe when a lease expires under a
// paused holder.
//
// Routes:
//   POST /work?tokens=N&delay=MS&linger=MS   event stream: `event: lease` (the fence),
//        N `event: token` every MS, then the write, then `event: done` (or `event: error`);
//        linger keeps the stream open MS after done (baton must release at done anyway)
//   POST /work-json?think=MS                 the same read-modify-write, answered as JSON
//   GET  /records                            every record, the sets, the counters (JSON)
//   POST /config {"fenceCheck": bool}        switch the fence check at run time
//   POST /reset                              forget everything
//   GET  /healthz
//
// Usage: node checker-engine.mjs [--port N] [--host H]... [--fence-check]
// It prints `listening <port>` on stdout once it accepts connections.

import http from 'node:http';
import { pathToFileURL } from 'node:url';

const now = () => process.hrtime.bigint();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const LIMITS = { tokens: [0, 10_000], delay: [0, 60_000], linger: [0, 60_000], think: [0, 60_000] };

function intParam(url, name, fallback) {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  const [min, max] = LIMITS[name];
  if (!Number.isInteger(value) || value < min || value > max) throw Object.assign(new Error(`bad ${name}`), { status: 400 });
  return value;
}

export function createChecker({ fenceCheck = false } = {}) {
  const state = {
    fenceCheck,
    records: [],            // one per request that reached the engine
    sets: new Map(),        // session -> Set of elements (request ids)
    lastFence: new Map(),   // session -> newest fence seen (BigInt)
    active: new Map(),      // session -> requests of it inside the engine now
    counters: { requests: 0, concurrentEntries: 0, staleAtEnter: 0, staleAtWrite: 0, missingFence: 0, committed: 0 },
  };

  function reset() {
    state.records = [];
    state.sets = new Map();
    state.lastFence = new Map();
    state.active = new Map();
    for (const key of Object.keys(state.counters)) state.counters[key] = 0;
  }

  // Enter: record, count a concurrent entry, check the fence. Returns the record, or
  // null when the fence is refused (the record then says so).
  function enter(req, kind) {
    const sid = req.headers['x-session-id'];
    const rid = req.headers['x-request-id'] ?? '';
    const rawFence = req.headers['baton-fence'];
    const fence = rawFence !== undefined && /^[0-9]+$/.test(rawFence) ? BigInt(rawFence) : null;
    const record = { sid, rid, kind, fence, enter: now(), read: null, write: null, exit: null, outcome: 'running', clientGone: false };
    state.records.push(record);
    state.counters.requests += 1;
    if (fence === null) state.counters.missingFence += 1;
    const running = state.active.get(sid) ?? 0;
    if (running > 0) state.counters.concurrentEntries += 1;
    state.active.set(sid, running + 1);
    const last = state.lastFence.get(sid);
    if (state.fenceCheck && fence !== null && last !== undefined && fence < last) {
      state.counters.staleAtEnter += 1;
      leave(record, 'stale_at_enter');
      return record;
    }
    if (fence !== null && (last === undefined || fence > last)) state.lastFence.set(sid, fence);
    return record;
  }

  function leave(record, outcome) {
    record.exit = now();
    record.outcome = outcome;
    const left = (state.active.get(record.sid) ?? 1) - 1;
    if (left > 0) state.active.set(record.sid, left);
    else state.active.delete(record.sid);
  }

  function read(record) {
    record.read = now();
    return [...(state.sets.get(record.sid) ?? [])];
  }

  // The write of a read-modify-write: the set as read, plus this request's element.
  // Refused when a newer fence has been seen meanwhile (fence check on).
  function write(record, snapshot) {
    const last = state.lastFence.get(record.sid);
    if (state.fenceCheck && record.fence !== null && last !== undefined && record.fence < last) {
      state.counters.staleAtWrite += 1;
      return false;
    }
    snapshot.push(record.rid);
    state.sets.set(record.sid, new Set(snapshot));
    record.write = now();
    state.counters.committed += 1;
    return true;
  }

  const sendEvent = (res, event, data) => {
    if (!res.destroyed && !res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };

  function json(res, status, body) {
    const text = JSON.stringify(body, (key, value) => (typeof value === 'bigint' ? value.toString() : value));
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  async function work(req, res, url) {
    const tokens = intParam(url, 'tokens', 3);
    const delay = intParam(url, 'delay', 10);
    const linger = intParam(url, 'linger', 0);
    const record = enter(req, 'sse');
    res.once('close', () => { if (!res.writableFinished) record.clientGone = true; });
    if (record.outcome === 'stale_at_enter') {
      return json(res, 409, { error: 'stale_fence', fence: record.fence, newest: state.lastFence.get(record.sid) });
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    sendEvent(res, 'lease', { fence: record.fence?.toString() ?? null });
    const snapshot = read(record);
    // The engine keeps working when its client (baton) goes away, like a real one would.
    for (let i = 0; i < tokens; i += 1) {
      await sleep(delay);
      sendEvent(res, 'token', { i });
    }
    if (!write(record, snapshot)) {
      leave(record, 'stale_at_write');
      sendEvent(res, 'error', { error: 'stale_fence', fence: record.fence.toString(), newest: state.lastFence.get(record.sid).toString() });
      if (!res.destroyed) res.end();
      return undefined;
    }
    // exit is taken before `done` is written: baton can only hand the session on after
    // it has seen `done`, so a later request's enter is always after this exit.
    leave(record, 'committed');
    sendEvent(res, 'done', { element: record.rid });
    if (linger > 0) await sleep(linger);
    if (!res.destroyed) res.end();
    return undefined;
  }

  async function workJson(req, res, url) {
    const think = intParam(url, 'think', 20);
    const record = enter(req, 'json');
    res.once('close', () => { if (!res.writableFinished) record.clientGone = true; });
    if (record.outcome === 'stale_at_enter') {
      return json(res, 409, { error: 'stale_fence', fence: record.fence, newest: state.lastFence.get(record.sid) });
    }
    const snapshot = read(record);
    await sleep(think);
    if (!write(record, snapshot)) {
      leave(record, 'stale_at_write');
      return json(res, 409, { error: 'stale_fence', fence: record.fence, newest: state.lastFence.get(record.sid) });
    }
    leave(record, 'committed');
    return json(res, 200, { ok: true, element: record.rid, fence: record.fence });
  }

  function readBody(req) {
    return new Promise((resolve, reject) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk) => { body += chunk; if (body.length > 1 << 20) reject(new Error('body too large')); });
      req.on('end', () => resolve(body));
      req.on('error', reject);
    });
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://checker');
    const route = `${req.method} ${url.pathname}`;
    if (url.pathname === '/work' || url.pathname === '/work-json') {
      await readBody(req);
      if (typeof req.headers['x-session-id'] !== 'string') return json(res, 400, { error: 'no X-Session-Id' });
      return url.pathname === '/work' ? work(req, res, url) : workJson(req, res, url);
    }
    switch (route) {
      case 'GET /healthz': return json(res, 200, { ok: true });
      case 'GET /records': return json(res, 200, snapshotAll());
      case 'POST /reset': await readBody(req); reset(); return json(res, 200, { ok: true });
      case 'POST /config': {
        const body = JSON.parse((await readBody(req)) || '{}');
        if (typeof body.fenceCheck === 'boolean') state.fenceCheck = body.fenceCheck;
        return json(res, 200, { fenceCheck: state.fenceCheck });
      }
      default: return json(res, 404, { error: `no route ${route}` });
    }
  }

  function snapshotAll() {
    const sets = {};
    for (const [sid, set] of state.sets) sets[sid] = [...set];
    return { fenceCheck: state.fenceCheck, counters: state.counters, records: state.records, sets };
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) json(res, error.status ?? 500, { error: error.message });
      else if (!res.destroyed) res.end();
    });
  });
  // Above baton's pool idle timeout (4 s), as the docs ask of an engine.
  server.keepAliveTimeout = 10_000;
  server.headersTimeout = 15_000;
  server.requestTimeout = 0;
  return { server, state, reset, snapshotAll };
}

// ------------------------------------------------------------------------------ CLI

async function main(argv) {
  let port = 0;
  const hosts = [];
  let fenceCheck = process.env.FENCE_CHECK === '1';
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--port') port = Number(argv[++i]);
    else if (argv[i] === '--host') hosts.push(argv[++i]);
    else if (argv[i] === '--fence-check') fenceCheck = true;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (hosts.length === 0) hosts.push('127.0.0.1');
  const checker = createChecker({ fenceCheck });
  // One handler, one state, one clock, for every address it listens on.
  const servers = [checker.server];
  for (let i = 1; i < hosts.length; i += 1) {
    const extra = http.createServer(checker.server.listeners('request')[0]);
    extra.keepAliveTimeout = checker.server.keepAliveTimeout;
    servers.push(extra);
  }
  let bound = port;
  for (let i = 0; i < hosts.length; i += 1) {
    await new Promise((resolve, reject) => {
      servers[i].once('error', reject);
      servers[i].listen(bound, hosts[i], resolve);
    });
    bound = servers[i].address().port;
  }
  process.stdout.write(`listening ${bound}\n`);
  const stop = () => { for (const s of servers) s.close(); setTimeout(() => process.exit(0), 200).unref(); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`checker-engine: ${error.message}\n`);
    process.exit(1);
  });
}
