// The client side: requests through the batons, each with a deadline, and the outcome of
// each classified. A request past its deadline is a silent hang and fails the scenario.
import http from 'node:http';
import { now, sleep } from './procs.mjs';
import { rng } from '../fault-proxy.mjs';

// Outcome classes. `done` is the only success; `hang` the only unacceptable one; the
// others are explicit errors the client can see and act on.
export const OUTCOMES = [
  'done',           // 200 and `event: done` (or the JSON route's 200)
  'stale_fence',    // the engine refused an old Baton-Fence (409 or `event: error`)
  'busy_409',       // baton: session_busy after lease.wait_timeout
  'waiters_429',    // baton: too_many_waiters
  'unavailable_503',// baton: lease store unreachable (fail closed)
  'bad_gateway_502',
  'timeout_504',
  'http_other',     // any other status
  'engine_error',   // `event: error` other than stale_fence
  'cut',            // 200 event stream that ended without done or error
  'conn_error',     // reset / refused / closed before a response head
  'hang',           // no end before the deadline
];

let sequence = 0;
export const newRequestId = (prefix = 'r') => `${prefix}-${process.pid}-${(sequence += 1)}`;

// One request. target: { name, host, port, agent }. Returns a result record with
// hrtime stamps `sent`, `head` and `end` (BigInt ns).
export function send(target, { sid, path = '/work?tokens=3&delay=10', deadlineMs = 15_000, rid = newRequestId(), json = false }) {
  return new Promise((resolve) => {
    const result = { rid, sid, target: target.name, path, sent: now(), head: null, end: null, status: 0, outcome: null, fence: null, detail: '' };
    let settled = false;
    let body = '';
    let sawDone = false;
    let sawError = null;
    const finish = (outcome, detail = '') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      result.end = now();
      result.outcome = outcome;
      result.detail = detail;
      resolve(result);
    };
    const req = http.request({
      host: target.host, port: target.port, method: 'POST', path, agent: target.agent,
      headers: { 'x-session-id': sid, 'x-request-id': rid, 'content-length': 0, accept: json ? 'application/json' : 'text/event-stream' },
    });
    const timer = setTimeout(() => {
      finish('hang', `no end after ${deadlineMs} ms (status ${result.status}, ${body.length} bytes)`);
      req.destroy();
    }, deadlineMs);
    req.on('error', (error) => {
      if (result.head === null) finish('conn_error', error.code ?? error.message);
      else finish(sawDone ? 'done' : (sawError ? classifyError(sawError) : 'cut'), error.code ?? error.message);
    });
    req.on('response', (res) => {
      result.head = now();
      result.status = res.statusCode;
      res.setEncoding('utf8');
      const sse = (res.headers['content-type'] ?? '').startsWith('text/event-stream');
      res.on('data', (chunk) => {
        body += chunk;
        if (!sse) return;
        // Whole events only: a `done` cut in half is not a done.
        let sep;
        while ((sep = body.indexOf('\n\n')) >= 0) {
          const event = body.slice(0, sep);
          body = body.slice(sep + 2);
          const name = event.match(/^event: (.*)$/m)?.[1];
          const data = event.match(/^data: (.*)$/m)?.[1];
          if (name === 'lease') result.fence = JSON.parse(data).fence;
          else if (name === 'done') sawDone = true;
          else if (name === 'error') sawError = data;
        }
      });
      res.on('end', () => {
        if (res.statusCode === 200 && sse) {
          if (sawDone) return finish('done');
          if (sawError) return finish(classifyError(sawError), sawError);
          return finish('cut', 'stream ended without done');
        }
        return finish(classifyStatus(res.statusCode, body), body.slice(0, 200));
      });
      res.on('error', (error) => finish(sawDone ? 'done' : 'cut', error.code ?? error.message));
      res.on('aborted', () => finish(sawDone ? 'done' : 'cut', 'aborted'));
    });
    req.end();
  });
}

function classifyError(data) {
  return /stale_fence/.test(data) ? 'stale_fence' : 'engine_error';
}

function classifyStatus(status, body) {
  if (status === 200) return 'done';
  if (status === 409) return /stale_fence/.test(body) ? 'stale_fence' : 'busy_409';
  if (status === 429) return 'waiters_429';
  if (status === 503) return 'unavailable_503';
  if (status === 502) return 'bad_gateway_502';
  if (status === 504) return 'timeout_504';
  return 'http_other';
}

export function makeTarget(name, host, port) {
  return { name, host, port, agent: new http.Agent({ keepAlive: true, maxSockets: Infinity, keepAliveMsecs: 1_000 }) };
}

// Closed loop: `clients` workers per session, each sending one request after another
// (round-robin over the targets) until `total` requests have been sent or `until()` says
// stop. After an explicit error a worker backs off a little, as a client would.
export async function closedLoop({ targets, sessions, clients = 2, total = Infinity, until = () => false, request, results, backoffMs = 100 }) {
  let sent = 0;
  let turn = 0;
  const worker = async (sid) => {
    for (;;) {
      if (sent >= total || until()) return;
      sent += 1;
      const target = targets[turn++ % targets.length];
      const result = await send(target, { sid, ...request(sid) });
      results.push(result);
      if (result.outcome !== 'done') await sleep(backoffMs);
    }
  };
  const workers = [];
  for (const sid of sessions) for (let c = 0; c < clients; c += 1) workers.push(worker(sid));
  await Promise.all(workers);
}

// Open loop: `rate` requests a second for `durationMs`, targets in turn, each on a
// session drawn at random (seeded), so that some of them meet on a session.
export async function openLoop({ targets, sessions, rate, durationMs, request, results, seed = 5 }) {
  const random = rng(seed);
  const inflight = new Set();
  const started = performance.now();
  let n = 0;
  while (performance.now() - started < durationMs) {
    const due = started + (n * 1_000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const sid = sessions[Math.floor(random() * sessions.length)];
    const target = targets[n % targets.length];
    n += 1;
    const p = send(target, { sid, ...request(sid) }).then((result) => { results.push(result); inflight.delete(p); });
    inflight.add(p);
  }
  await Promise.all(inflight);
}

export function countOutcomes(results) {
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0]));
  for (const r of results) counts[r.outcome] += 1;
  return counts;
}
