// The fault scenarios. Each takes a context ({ dir, long, log, cleanup }) and returns
// { summary, figures, checks } where checks are { ok, text } (an ok: false check fails it)
// and figures are what docs/RELIABILITY.md reports. Short versions run in seconds (CI);
// long ones (--long) run for minutes.
import { analyse, invariantFailures, overlapPairs } from './lib/analysis.mjs';
import { closedLoop, makeTarget, openLoop, send } from './lib/driver.mjs';
import { FaultProxy, chaos } from './fault-proxy.mjs';
import { NetnsBaton, netnsUnavailable } from './lib/netns.mjs';
import { Baton, Checker, Redis, freePort, metricSum, ms, now, sleep } from './lib/procs.mjs';
import { scanKeys } from './lib/resp.mjs';

const SSE = (tokens, delay, linger = 0) => `/work?tokens=${tokens}&delay=${delay}${linger ? `&linger=${linger}` : ''}`;
const round = (x, digits = 0) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);
const check = (ok, text) => ({ ok: Boolean(ok), text });

// Redis, the checker engine and N batons; baton i reaches Redis through a fault proxy
// when proxied[i]. Registers its own cleanup.
async function cluster(ctx, o) {
  const redis = await new Redis({ dir: ctx.dir, port: await freePort(), binds: o.redisBinds }).start();
  const checker = await new Checker({ dir: ctx.dir, fenceCheck: o.fenceCheck ?? true, hosts: o.engineHosts }).start();
  const batons = [];
  const proxies = [];
  ctx.cleanup.push(async () => {
    for (const b of batons) await b.stop();
    for (const p of proxies) if (p) await p.close();
    await checker.stop();
    await redis.stop();
  });
  for (let i = 0; i < o.batons; i += 1) {
    const name = `baton-${'abcdefgh'[i]}`;
    let proxy = null;
    if (o.proxied?.[i]) proxy = await new FaultProxy({ targetPort: redis.port, seed: 1000 + 17 * i, name }).start();
    proxies.push(proxy);
    const baton = new Baton({
      name, dir: ctx.dir, enginePort: checker.port, redisPort: proxy ? proxy.port : redis.port,
      ttl: o.ttl ?? '2s', waitTimeout: o.waitTimeout ?? '5s', redisCommandTimeout: o.commandTimeout ?? '1s',
      ...(o.overrides?.[i] ?? {}),
    });
    batons.push(baton);
    await baton.start();
  }
  const targets = batons.map((b) => makeTarget(b.name, b.host, b.port));
  return { redis, checker, batons, proxies, targets };
}

async function batonCounters(batons) {
  const out = { leasesLost: 0, lateReleases: 0, redisErrors: 0, backendDown: 0, busy: 0 };
  for (const b of batons) {
    if (!b.alive) continue;
    try {
      const m = await b.metrics();
      out.leasesLost += metricSum(m, 'baton_leases_lost_total');
      out.lateReleases += metricSum(m, 'baton_lease_late_releases_total');
      out.redisErrors += metricSum(m, 'baton_redis_errors_total');
      out.backendDown += metricSum(m, 'baton_lease_acquisitions_total', 'result="backend_down"');
      out.busy += metricSum(m, 'baton_lease_acquisitions_total', 'result="busy"');
    } catch { /* a baton that does not answer is reported by the scenario */ }
  }
  return out;
}

// Every lease ends (promise 5): once traffic has stopped and `afterMs` has passed, no
// lease key is left in Redis.
async function leasesLeft(redis) {
  return (await scanKeys(redis.where, 'baton:*:lease')).length;
}

// The common end of a scenario: records, invariants, leftover leases.
async function finish(ctx, cl, results, { settleMs, extraChecks = [], figures = {} }) {
  for (const t of cl.targets) t.agent.destroy();
  const immediate = await leasesLeft(cl.redis);
  if (settleMs > 0) await sleep(settleMs);
  const left = await leasesLeft(cl.redis);
  const summary = analyse({ results, engine: await cl.checker.records() });
  summary.baton = await batonCounters(cl.batons);
  summary.leasesLeft = left;
  summary.leasesLeftAtStop = immediate;
  const checks = [
    ...invariantFailures(summary).map((text) => check(false, text)),
    check(left === 0, `leases left in Redis ${settleMs} ms after traffic stopped: ${left}`),
    ...extraChecks,
  ];
  return { summary, figures, checks };
}

// ------------------------------------------------------------------------------ control

// The checker without baton: concurrent requests of a session straight to the engine.
// It must see overlaps and lose elements, or it could not see them through baton either.
export async function control(ctx) {
  const checker = await new Checker({ dir: ctx.dir, fenceCheck: false }).start();
  ctx.cleanup.push(() => checker.stop());
  const results = [];
  const engine = makeTarget('engine', '127.0.0.1', checker.port);
  const sessions = Array.from({ length: 5 }, (_, i) => `control-${i}`);
  await closedLoop({ targets: [engine], sessions, clients: 4, total: 300, results, request: () => ({ path: SSE(3, 5) }) });
  engine.agent.destroy();
  const summary = analyse({ results, engine: await checker.records() });
  return {
    summary,
    figures: { overlapsWithoutBaton: summary.overlaps, lostWithoutBaton: summary.lost },
    checks: [
      check(summary.overlaps > 0, `without baton the engine saw ${summary.overlaps} overlaps (must be > 0: the checker sees them)`),
      check(summary.lost > 0, `without baton ${summary.lost} acknowledged elements were lost (must be > 0: the checker sees them)`),
      check(summary.hangs === 0, `hangs: ${summary.hangs}`),
    ],
  };
}

// ----------------------------------------------------------------------------- baseline

// Contention, no faults: 3 batons, many sessions, several clients per session, event
// streams (some kept open after done) and JSON requests. No fence check: exclusion alone
// must keep every element.
export async function baseline(ctx) {
  const p = ctx.long ? { sessions: 200, clients: 3, total: 100_000 } : { sessions: 30, clients: 3, total: 5_000 };
  const cl = await cluster(ctx, { batons: 3, ttl: '5s', waitTimeout: '5s', fenceCheck: false });
  const sessions = Array.from({ length: p.sessions }, (_, i) => `base-${i}`);
  const results = [];
  let n = 0;
  const started = now();
  await closedLoop({
    targets: cl.targets, sessions, clients: p.clients, total: p.total, results,
    request: () => {
      n += 1;
      if (n % 5 === 0) return { path: '/work-json?think=5', json: true, deadlineMs: 20_000 };
      return { path: SSE(3, 3, n % 7 === 0 ? 30 : 0), deadlineMs: 20_000 };
    },
  });
  const seconds = ms(now() - started) / 1000;
  const out = await finish(ctx, cl, results, { settleMs: 0 });
  out.figures = { requestsPerSecond: round(results.length / seconds), seconds: round(seconds, 1) };
  out.checks.push(check(out.summary.overlaps === 0, `overlaps seen by the engine (no fault, no fence check): ${out.summary.overlaps}`));
  out.checks.push(check(out.summary.completed === out.summary.sent, `every request completed with done: ${out.summary.completed}/${out.summary.sent}`));
  out.checks.push(check(out.summary.leasesLeftAtStop === 0, `leases left the moment traffic stopped: ${out.summary.leasesLeftAtStop}`));
  return out;
}

// ------------------------------------------------------------------------- redis-freeze

// Redis frozen for 2 s, by SIGSTOP and by CLIENT PAUSE WRITE, in turn, repeatedly, under
// steady contention. TTL 4 s: a 2 s freeze fits in what is left of a lease renewed every
// 1.3 s, so no lease should be lost. Freezes are 4.5 s apart (more than the TTL and the
// wait), so that what one freeze leaves behind has ended before the next.
export async function redisFreeze(ctx) {
  const cycles = ctx.long ? 30 : 2;
  const cl = await cluster(ctx, { batons: 2, ttl: '4s', waitTimeout: '4s', commandTimeout: '1s' });
  const sessions = Array.from({ length: 20 }, (_, i) => `freeze-${i}`);
  const results = [];
  const freezes = [];
  let stop = false;
  const load = closedLoop({ targets: cl.targets, sessions, clients: 2, until: () => stop, results, backoffMs: 50, request: () => ({ path: SSE(5, 20), deadlineMs: 20_000 }) });
  await sleep(1_000);
  for (let i = 0; i < cycles; i += 1) {
    const kind = i % 2 === 0 ? 'SIGSTOP' : 'CLIENT PAUSE WRITE';
    const start = now();
    if (kind === 'SIGSTOP') {
      cl.redis.signal('SIGSTOP');
      await sleep(2_000);
      cl.redis.signal('SIGCONT');
    } else {
      await cl.redis.command(['CLIENT', 'PAUSE', '2000', 'WRITE']);
      await sleep(2_000);
    }
    freezes.push({ kind, start, end: now() });
    ctx.log(`  freeze ${i + 1}/${cycles} (${kind}) done`);
    await sleep(4_500);
  }
  stop = true;
  await load;
  const out = await finish(ctx, cl, results, { settleMs: 4_500 });
  // Time to recover, from the end of a freeze: to the first request of each baton entering
  // the engine (the worst baton), and to every session having run again (the worst
  // session). Acquires that timed out during the freeze still run when Redis resumes;
  // baton undoes them right behind (docs/RELIABILITY.md, finding 1), so no session waits
  // for a lease or a place in line that nobody holds.
  const { records } = await cl.checker.records();
  const targetOf = new Map(results.map((r) => [r.rid, r.target]));
  const recover = { SIGSTOP: [], 'CLIENT PAUSE WRITE': [] };
  const allSessions = { SIGSTOP: [], 'CLIENT PAUSE WRITE': [] };
  const firstAfter = (list, t) => list.reduce((m, r) => (r.enter > t && r.enter < m ? r.enter : m), 1n << 62n);
  for (const f of freezes) {
    let worst = 0;
    for (const b of cl.batons) worst = Math.max(worst, ms(firstAfter(records.filter((r) => targetOf.get(r.rid) === b.name), f.end) - f.end));
    recover[f.kind].push(worst);
    let worstSession = 0;
    for (const sid of sessions) worstSession = Math.max(worstSession, ms(firstAfter(records.filter((r) => r.sid === sid), f.end) - f.end));
    allSessions[f.kind].push(worstSession);
  }
  if (process.env.FAULTS_DEBUG) {
    const rec = new Map(records.map((r) => [r.rid, r]));
    for (const f of freezes) {
      console.log(`  debug ${f.kind}: start ${round(ms(f.start - f.end))} ms`);
      for (const r of results.filter((x) => ms(x.end - f.end) > -300 && ms(x.sent - f.end) < 1_500).sort((a, b) => (a.end < b.end ? -1 : 1)).slice(0, 25)) {
        console.log(`  debug   ${r.target} ${r.sid} ${r.outcome} sent ${round(ms(r.sent - f.end))} enter ${rec.get(r.rid) ? round(ms(rec.get(r.rid).enter - f.end)) : '-'} end ${round(ms(r.end - f.end))}`);
      }
    }
  }
  const worstOf = (o) => Math.max(...o.SIGSTOP, ...o['CLIENT PAUSE WRITE']);
  out.figures = {
    freezes: cycles,
    firstRequestPerBatonMs: { median: { SIGSTOP: round(median(recover.SIGSTOP)), 'CLIENT PAUSE WRITE': round(median(recover['CLIENT PAUSE WRITE'])) }, max: { SIGSTOP: round(Math.max(...recover.SIGSTOP)), 'CLIENT PAUSE WRITE': round(Math.max(...recover['CLIENT PAUSE WRITE'])) } },
    everySessionAgainMs: { median: { SIGSTOP: round(median(allSessions.SIGSTOP)), 'CLIENT PAUSE WRITE': round(median(allSessions['CLIENT PAUSE WRITE'])) }, max: { SIGSTOP: round(Math.max(...allSessions.SIGSTOP)), 'CLIENT PAUSE WRITE': round(Math.max(...allSessions['CLIENT PAUSE WRITE'])) } },
  };
  out.checks.push(check(out.summary.acceptedOverlaps === 0, `accepted overlaps: ${out.summary.acceptedOverlaps} (raw overlaps ${out.summary.overlaps}, leases lost ${out.summary.baton.leasesLost})`));
  // Bound: a request sent during the freeze fails after one command timeout (1 s), and
  // its client retries 50-100 ms later; without the undoing, sessions waited for the TTL
  // (4 s) or lease.wait_timeout (4 s) of what the timed-out acquires had left behind.
  out.checks.push(check(worstOf(allSessions) <= 2_000, `every session ran again within 2 s of every freeze (worst ${round(worstOf(allSessions))} ms; first request per baton, worst ${round(worstOf(recover))} ms)`));
  return out;
}

function median(list) {
  if (list.length === 0) return NaN;
  const s = [...list].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// ----------------------------------------------------------------------------- gc-pause

// One baton paused (SIGSTOP) longer than the TTL while its request streams: the lease
// expires, the other baton's request takes it with a newer fence and writes first, and
// the paused request's write is refused (fence check). Then the same without the fence
// check, which must lose the newer request's element: the fence is what protects.
export async function gcPause(ctx) {
  const rounds = ctx.long ? 15 : 2;
  const k = 4;
  const ttlMs = 2_000;
  const cl = await cluster(ctx, { batons: 2, ttl: '2s', waitTimeout: '5s' });
  const [a, b] = cl.batons;
  const [ta, tb] = cl.targets;
  const results = [];
  const handoffs = [];
  const orderOk = [];

  const round1 = async (r, fenceCheck) => {
    await cl.checker.setFenceCheck(fenceCheck);
    const sids = Array.from({ length: k }, (_, i) => `gc-${fenceCheck ? 'f' : 'nofence'}-${r}-${i}`);
    const local = [];
    const first = sids.map((sid) => send(ta, { sid, path: SSE(35, 100), deadlineMs: 20_000 }).then((x) => { local.push(x); return x; }));
    await sleep(300);
    const stopped = now();
    a.signal('SIGSTOP');
    await sleep(100);
    const second = await Promise.all(sids.map((sid) => send(tb, { sid, path: SSE(2, 10), deadlineMs: 20_000 })));
    local.push(...second);
    // Keep A stopped until the first requests' engine work is over (3.5 s after they began).
    await sleep(Math.max(0, 3_600 - ms(now() - stopped)));
    a.signal('SIGCONT');
    const firstResults = await Promise.all(first);
    const { records } = await cl.checker.records();
    const rec = new Map(records.map((x) => [x.rid, x]));
    for (let i = 0; i < k; i += 1) {
      const r1 = rec.get(firstResults[i].rid);
      const r2 = rec.get(second[i].rid);
      if (r2) handoffs.push(ms(r2.enter - stopped));
      // The engine saw the newer fence before the stale write was tried.
      orderOk.push(Boolean(r1 && r2 && r2.fence > r1.fence && r2.enter < (r1.exit ?? 1n << 62n)));
    }
    return { local, firstResults, second };
  };

  for (let r = 0; r < rounds; r += 1) {
    const { local, firstResults } = await round1(r, true);
    results.push(...local);
    ctx.log(`  round ${r + 1}/${rounds}: paused requests ${firstResults.map((x) => x.outcome).join(', ')}`);
  }
  const out = await finish(ctx, cl, results, { settleMs: 3_000 });
  const leasesLost = out.summary.baton.leasesLost;

  // Without the fence check: the scenario must bite.
  await cl.checker.reset();
  const control = await round1(0, false);
  const controlSummary = analyse({ results: control.local, engine: await cl.checker.records() });

  const paused = results.filter((x) => x.target === ta.name);
  const pausedOutcomes = {};
  for (const x of paused) pausedOutcomes[x.outcome] = (pausedOutcomes[x.outcome] ?? 0) + 1;
  out.figures = {
    pausesOverTtl: rounds * k,
    handoffMsMax: round(Math.max(...handoffs)),
    pausedRequestOutcomes: pausedOutcomes,
    leasesReportedLost: leasesLost,
    withoutFenceCheck: { lost: controlSummary.lost, of: k, acceptedOverlaps: controlSummary.acceptedOverlaps },
  };
  out.checks.push(check(orderOk.every(Boolean), `the engine saw the newer fence before the stale write in ${orderOk.filter(Boolean).length}/${orderOk.length} sessions`));
  out.checks.push(check(paused.every((x) => x.outcome !== 'done'), `no paused request reported done: ${JSON.stringify(pausedOutcomes)}`));
  out.checks.push(check(paused.every((x) => x.outcome === 'stale_fence'), `every paused request's write was refused by the fence check: ${JSON.stringify(pausedOutcomes)}`));
  out.checks.push(check(Math.max(...handoffs) <= ttlMs + 1_000, `the other baton took the lease within TTL + 1 s of the pause (worst ${round(Math.max(...handoffs))} ms)`));
  out.checks.push(check(controlSummary.lost > 0, `without the fence check the same pause lost ${controlSummary.lost}/${k} acknowledged elements (must be > 0: the scenario bites)`));
  const noticed = leasesLost + out.summary.baton.lateReleases;
  out.checks.push(check(noticed >= rounds * k, `the paused baton noticed every expired lease: ${leasesLost} by renewal (leases_lost), ${out.summary.baton.lateReleases} at release (late_releases); expected ${rounds * k}`));
  return out;
}

// ---------------------------------------------------------------------------- baton-kill

// A baton killed (SIGKILL) while its requests stream: their clients see an error, never a
// done; the leases end within the TTL (plus a small margin) and the other baton's waiting
// requests get them; the killed baton, restarted, serves again.
export async function batonKill(ctx) {
  const rounds = ctx.long ? 15 : 2;
  const k = 6;
  const ttlMs = 2_000;
  const cl = await cluster(ctx, { batons: 2, ttl: '2s', waitTimeout: '5s' });
  const [a] = cl.batons;
  const [ta, tb] = cl.targets;
  const results = [];
  const handoffs = [];
  const killedOutcomes = {};
  let restartOk = true;
  for (let r = 0; r < rounds; r += 1) {
    const sids = Array.from({ length: k }, (_, i) => `kill-${r}-${i}`);
    const first = sids.map((sid) => send(ta, { sid, path: SSE(30, 100), deadlineMs: 20_000 }));
    // Kill at a different point of the renewal cycle each round (renewals every TTL/3).
    await sleep(300 + ((r * 457) % 1_200));
    const killed = now();
    await a.kill();
    const second = await Promise.all(sids.map((sid) => send(tb, { sid, path: SSE(2, 10), deadlineMs: 20_000 })));
    const firstResults = await Promise.all(first);
    results.push(...firstResults, ...second);
    for (const x of firstResults) killedOutcomes[x.outcome] = (killedOutcomes[x.outcome] ?? 0) + 1;
    const { records } = await cl.checker.records();
    const rec = new Map(records.map((x) => [x.rid, x]));
    for (const x of second) if (rec.get(x.rid)) handoffs.push(ms(rec.get(x.rid).enter - killed));
    // Restart the killed baton; a few requests through it must complete.
    ta.agent.destroy();
    ta.agent = makeTarget(ta.name, ta.host, ta.port).agent;
    await a.start();
    const again = await Promise.all(sids.map((sid) => send(ta, { sid, path: SSE(2, 5), deadlineMs: 20_000 })));
    results.push(...again);
    if (!again.every((x) => x.outcome === 'done')) restartOk = false;
    ctx.log(`  round ${r + 1}/${rounds}: killed-stream outcomes ${firstResults.map((x) => x.outcome).join(', ')}; hand-off ${round(Math.max(...handoffs))} ms`);
  }
  const out = await finish(ctx, cl, results, { settleMs: 3_000 });
  out.figures = {
    kills: rounds,
    streamsCut: rounds * k,
    handoffMsMax: round(Math.max(...handoffs)),
    handoffMsMin: round(Math.min(...handoffs)),
    killedClientOutcomes: killedOutcomes,
  };
  out.checks.push(check(!killedOutcomes.done, `no client of the killed baton saw done: ${JSON.stringify(killedOutcomes)}`));
  out.checks.push(check(handoffs.length === rounds * k && Math.max(...handoffs) <= ttlMs + 500, `leases of the killed baton ended within TTL + 500 ms (worst ${round(Math.max(...handoffs))} ms, ${handoffs.length}/${rounds * k})`));
  out.checks.push(check(restartOk, 'the restarted baton served its sessions again'));
  return out;
}

// ----------------------------------------------------------------------------- redis-cut

// One baton (A) cut off from Redis for 5 s, then healed; B is not. Steady contention over
// shared sessions through both, and a probe every 100 ms through A on fresh sessions.
// `cut(kind)` / `heal()` come from the fault proxy or from the network namespace.
async function cutScenario(ctx, cl, { cutOff, heal, cutMs = 5_000, label }) {
  const [ta, tb] = cl.targets;
  const sessions = Array.from({ length: 10 }, (_, i) => `cut-${label}-${i}`);
  const results = [];
  const probes = [];
  let stop = false;
  const load = closedLoop({ targets: cl.targets, sessions, clients: 1, until: () => stop, results, backoffMs: 100, request: () => ({ path: SSE(5, 20), deadlineMs: 30_000 }) });
  let probeN = 0;
  const probing = (async () => {
    const inflight = [];
    while (!stop) {
      probeN += 1;
      inflight.push(send(ta, { sid: `probe-${label}-${probeN}`, path: SSE(1, 0), deadlineMs: 30_000 }).then((x) => probes.push(x)));
      await sleep(100);
    }
    await Promise.all(inflight);
  })();
  await sleep(1_500);
  const cutAt = now();
  cutOff();
  await sleep(cutMs);
  const healAt = now();
  heal();
  await sleep(2_500);
  stop = true;
  await Promise.all([load, probing]);
  results.push(...probes);
  const out = await finish(ctx, cl, results, { settleMs: 2_500 });
  const okAfter = probes.filter((x) => x.outcome === 'done' && x.end > healAt).map((x) => ms(x.end - healAt));
  const failedAfterCut = probes.filter((x) => x.outcome !== 'done' && x.end > cutAt).map((x) => ms(x.end - cutAt));
  const during = results.filter((x) => x.sent > cutAt && x.sent < healAt);
  const duringB = during.filter((x) => x.target === tb.name);
  const duringA = during.filter((x) => x.target === ta.name);
  const recoverMs = okAfter.length ? Math.min(...okAfter) : Infinity;
  const outcomesA = {};
  for (const x of duringA) outcomesA[x.outcome] = (outcomesA[x.outcome] ?? 0) + 1;
  if (process.env.FAULTS_DEBUG) {
    for (const x of duringA.filter((y) => y.outcome === 'done' || y.outcome === 'busy_409')) {
      console.log('  debug', x.outcome, x.sid, x.rid, 'sent', round(ms(x.sent - cutAt)), 'head', x.head && round(ms(x.head - cutAt)), 'end', round(ms(x.end - cutAt)), 'fence', x.fence);
    }
  }
  out.figures = {
    cutMs,
    detectMs: round(failedAfterCut.length ? Math.min(...failedAfterCut) : NaN),
    recoverMs: round(recoverMs),
    cutBatonOutcomesDuringCut: outcomesA,
    otherBatonDoneDuringCut: `${duringB.filter((x) => x.outcome === 'done').length}/${duringB.length}`,
  };
  out.checks.push(check(recoverMs < 5_000, `the cut baton served again ${round(recoverMs)} ms after the heal (must be < 5 s)`));
  out.checks.push(check(!duringA.some((x) => x.outcome === 'done' && x.head && x.sent > cutAt + 2_000_000_000n && x.end < healAt), 'no request through the cut baton got a lease while it could not reach Redis'));
  return out;
}

export async function redisCutProxy(ctx) {
  const outs = {};
  for (const kind of ['stall', 'reset']) {
    const o = await withOwnCleanup(ctx, async (sub) => {
      const cl = await cluster(sub, { batons: 2, ttl: '2s', waitTimeout: '3s', proxied: [true, false] });
      const proxy = cl.proxies[0];
      return cutScenario(sub, cl, { label: `proxy-${kind}`, cutOff: () => proxy.set(kind), heal: () => proxy.set('pass') });
    });
    outs[kind] = o;
    ctx.log(`  fault proxy ${kind}: recovered ${o.figures.recoverMs} ms after the heal`);
  }
  return merge(outs, { stall: 'proxy stall (as DROP)', reset: 'proxy reset (as REJECT with tcp-reset)' });
}

export async function redisCutNetns(ctx) {
  const why = netnsUnavailable();
  if (why) return { skipped: `network namespaces not usable here: ${why}` };
  const outs = {};
  for (const kind of ['drop', 'reject']) {
    const o = await withOwnCleanup(ctx, async (sub) => {
      const net = new NetnsBaton();
      net.teardown();
      sub.cleanup.push(async () => net.teardown());
      net.setup();
      const cl = await cluster(sub, {
        batons: 2, ttl: '2s', waitTimeout: '3s',
        redisBinds: ['127.0.0.1', net.redisHost], engineHosts: ['127.0.0.1', net.appHost],
        overrides: [{ netns: net.ns, listenHost: net.batonHost, engineHost: net.appHost, redisHost: net.redisHost }],
      });
      return cutScenario(sub, cl, { label: `netns-${kind}`, cutOff: () => net.cutOff(kind), heal: () => net.heal() });
    });
    outs[kind] = o;
    ctx.log(`  netns ${kind}: recovered ${o.figures.recoverMs} ms after the heal`);
  }
  return merge(outs, { drop: 'netns blackhole route (DROP)', reject: 'netns prohibit route (REJECT)' });
}

// Runs fn with a context of its own whose cleanup runs when fn ends, however it ends.
async function withOwnCleanup(ctx, fn) {
  const sub = { ...ctx, cleanup: [] };
  try {
    return await fn(sub);
  } finally {
    for (const cleanup of sub.cleanup.reverse()) {
      try { await cleanup(); } catch (error) { ctx.log(`  cleanup: ${error.message}`); }
    }
  }
}

// Several runs of one scenario as one result: summaries added, figures and checks kept per run.
function merge(outs, labels) {
  const summary = {};
  const figures = {};
  const checks = [];
  for (const [key, o] of Object.entries(outs)) {
    for (const [field, value] of Object.entries(o.summary)) {
      if (['slowestMs', 'longestIdleWithWaiterMs'].includes(field)) summary[field] = Math.max(summary[field] ?? 0, value);
      else if (field === 'handoffGapMs') summary[field] = !summary[field] || (value && value.max > summary[field].max) ? value : summary[field];
      else if (typeof value === 'number') summary[field] = (summary[field] ?? 0) + value;
      else if (field === 'errors') {
        summary.errors ??= {};
        for (const [cls, n] of Object.entries(value)) summary.errors[cls] = (summary.errors[cls] ?? 0) + n;
      } else if (field === 'baton') {
        summary.baton ??= {};
        for (const [cls, n] of Object.entries(value)) summary.baton[cls] = (summary.baton[cls] ?? 0) + n;
      }
    }
    figures[labels[key]] = o.figures;
    for (const c of o.checks) checks.push({ ok: c.ok, text: `${labels[key]}: ${c.text}` });
  }
  return { summary, figures, checks };
}

// ---------------------------------------------------------------------------- flaky-link

// Every baton's Redis link through its own fault proxy, switching at random between pass,
// latency with jitter, fragments, stalls (some longer than the 5 s stall timeout),
// resets and slow closes, for minutes, under an open-loop load.
export async function flakyLink(ctx) {
  const durationMs = ctx.long ? 5 * 60_000 : 10_000;
  const cl = await cluster(ctx, { batons: 3, ttl: '2s', waitTimeout: '5s', commandTimeout: '1s', proxied: [true, true, true] });
  const modes = {};
  const stops = cl.proxies.map((p, i) => chaos(p, { seed: 11 + i * 101, onChange: (mode) => { modes[mode] = (modes[mode] ?? 0) + 1; } }));
  const sessions = Array.from({ length: 30 }, (_, i) => `flaky-${i}`);
  const results = [];
  // Deadline: wait_timeout 5 s + a few command timeouts + the stream; far beyond, a hang.
  await openLoop({ targets: cl.targets, sessions, rate: 40, durationMs, results, request: () => ({ path: SSE(4, 25), deadlineMs: 15_000 }) });
  for (const s of stops) s();
  // After the link heals, every baton serves again.
  await sleep(2_000);
  const after = await Promise.all(cl.targets.map((t) => send(t, { sid: `flaky-after-${t.name}`, path: SSE(1, 0), deadlineMs: 15_000 })));
  results.push(...after);
  const out = await finish(ctx, cl, results, { settleMs: 3_000 });
  out.figures = { durationS: durationMs / 1000, faultsInjected: modes, resets: cl.proxies.reduce((n, p) => n + p.stats.resets, 0) };
  out.checks.push(check(after.every((x) => x.outcome === 'done'), `every baton served again once the link was healthy: ${after.map((x) => x.outcome).join(', ')}`));
  return out;
}

// ------------------------------------------------------------------- redis-restart-empty

// Redis killed and restarted with no data, under steady contention, at once and after a
// down time longer than the TTL: fences never go backwards.
export async function redisRestart(ctx) {
  const plan = ctx.long ? Array.from({ length: 20 }, (_, i) => (i % 2 ? 2_500 : 0)) : [0, 2_500];
  const cl = await cluster(ctx, { batons: 2, ttl: '2s', waitTimeout: '5s' });
  const sessions = Array.from({ length: 20 }, (_, i) => `restart-${i}`);
  const results = [];
  let stop = false;
  // Streams of 0.5 to 3.5 s (some longer than the TTL and than the down time), three
  // clients per session: a restart finds streams in flight at different points, and
  // requests that arrive while they run.
  let n = 0;
  const load = closedLoop({ targets: cl.targets, sessions, clients: 3, until: () => stop, results, backoffMs: 100, request: () => ({ path: SSE(5 + ((n += 7) % 31), 100), deadlineMs: 30_000 }) });
  const restarts = [];
  await sleep(2_300);
  for (const downMs of plan) {
    const t0 = now();
    await cl.redis.restartEmpty(downMs);
    restarts.push({ downMs, up: now(), t0 });
    ctx.log(`  restart (down ${downMs} ms) done`);
    await sleep(4_300);
  }
  stop = true;
  await load;
  const out = await finish(ctx, cl, results, { settleMs: 3_000 });
  const { records } = await cl.checker.records();
  const recover = restarts.map((x) => {
    const first = records.filter((r) => r.enter > x.up).reduce((m, r) => (r.enter < m ? r.enter : m), 1n << 62n);
    return ms(first - x.up);
  });
  // Overlaps caused by each restart (the new Redis does not have the leases in flight),
  // by the down time: at once, or longer than the TTL.
  const overlapsByDownMs = {};
  for (const { second } of overlapPairs(records)) {
    const x = restarts.find((y) => second.enter >= y.t0 && second.enter <= y.up + 4_000_000_000n);
    const key = x ? `${x.downMs} ms` : 'other';
    overlapsByDownMs[key] = (overlapsByDownMs[key] ?? 0) + 1;
  }
  if (process.env.FAULTS_DEBUG) {
    for (const x of restarts) {
      const inflight = records.filter((r) => r.enter < x.t0 && (r.exit ?? 1n << 62n) > x.t0);
      console.log(`  debug restart down ${x.downMs}: ${inflight.length} in flight, exits after up (ms): ${inflight.map((r) => round(ms(r.exit - x.up))).join(' ')}`);
      for (const r of inflight) {
        const next = records.filter((y) => y.sid === r.sid && y.enter > x.t0).sort((a, b) => (a.enter < b.enter ? -1 : 1))[0];
        const tried = results.filter((y) => y.sid === r.sid && y.sent > x.up).sort((a, b) => (a.sent < b.sent ? -1 : 1)).slice(0, 4);
        console.log(`  debug ${r.sid}: in-flight exit ${round(ms(r.exit - x.up))}, next enter ${next ? round(ms(next.enter - x.up)) : '-'}; tries after up: ${tried.map((y) => `${y.outcome}@${round(ms(y.sent - x.up))}..${round(ms(y.end - x.up))}`).join(' ')}`);
      }
    }
  }
  out.figures = {
    restarts: plan.length,
    recoverMsMax: round(Math.max(...recover)),
    overlapsByDownTime: overlapsByDownMs,
  };
  out.checks.push(check(Math.max(...recover) < 3_000, `batons served again within 3 s of every restart (worst ${round(Math.max(...recover))} ms)`));
  return out;
}

// ------------------------------------------------------------------------ redis-failover

// The limit of a single source of truth: Redis fails over to a replica that had not yet
// received the leases (replication is asynchronous; the replica is stopped to make sure).
// Requests through the other baton get the same sessions at once: two holders. The fence
// (Redis TIME on the same clock) is still newer, so an engine that checks it refuses the
// stale writes; without the check, acknowledged elements are lost.
export async function redisFailover(ctx) {
  const rounds = ctx.long ? 10 : 1;
  const k = 4;
  const cl = await cluster(ctx, { batons: 2, ttl: '2s', waitTimeout: '5s', proxied: [true, true] });
  const [ta, tb] = cl.targets;
  let primary = cl.redis;
  const replicas = [];
  ctx.cleanup.push(async () => { for (const r of replicas) await r.stop(); });
  const results = [];
  const handoffs = [];
  const failover = async (label, fenceCheck) => {
    await cl.checker.setFenceCheck(fenceCheck);
    // Replication runs through a fault proxy, so that it can be held back: a stopped
    // replica would still find the stream in its socket buffer when it resumes.
    const link = await new FaultProxy({ targetPort: primary.port, name: `replication-${label}` }).start();
    const replica = await new Redis({ dir: ctx.dir, port: await freePort(), name: `redis-${label}`, replicaOf: link.port }).start();
    replicas.push(replica);
    for (let i = 0; ; i += 1) {
      const info = String(await replica.command(['INFO', 'replication']).catch(() => ''));
      if (/master_link_status:up/.test(info)) break;
      if (i > 200) throw new Error(`the replica did not sync with ${primary.port}: ${info}`);
      await sleep(50);
    }
    link.set('stall');
    const sids = Array.from({ length: k }, (_, i) => `failover-${label}-${i}`);
    const first = sids.map((sid) => send(ta, { sid, path: SSE(30, 100), deadlineMs: 20_000 }));
    await sleep(300);
    await primary.kill();
    await link.close();  // what the replica had not received is gone with the primary
    await replica.command(['REPLICAOF', 'NO', 'ONE']);
    for (const p of cl.proxies) p.retarget(replica.port);
    const at = now();
    // The batons notice the reset, then reconnect (with backoff) to the new primary
    // behind the same address.
    await sleep(200);
    await cl.batons[1].waitReady(5_000);
    const second = await Promise.all(sids.map((sid) => send(tb, { sid, path: SSE(2, 10), deadlineMs: 20_000 })));
    const firstResults = await Promise.all(first);
    primary = replica;
    cl.redis = replica;
    const { records } = await cl.checker.records();
    const rec = new Map(records.map((x) => [x.rid, x]));
    for (const x of second) if (rec.get(x.rid)) handoffs.push(ms(rec.get(x.rid).enter - at));
    return [...firstResults, ...second];
  };
  for (let r = 0; r < rounds; r += 1) {
    results.push(...await failover(`r${r}`, true));
    ctx.log(`  failover ${r + 1}/${rounds} done`);
  }
  const out = await finish(ctx, cl, results, { settleMs: 3_000 });
  await cl.checker.reset();
  const control = await failover('nofence', false);
  const controlSummary = analyse({ results: control, engine: await cl.checker.records() });
  out.figures = {
    failovers: rounds,
    secondHoldersLetIn: out.summary.overlaps,
    secondHolderAfterMsMax: round(Math.max(...handoffs)),
    staleWritesRefused: out.summary.staleRefused,
    withoutFenceCheck: { lost: controlSummary.lost, of: k, acceptedOverlaps: controlSummary.acceptedOverlaps },
  };
  out.checks.push(check(out.summary.overlaps > 0, `the failover let second holders in (${out.summary.overlaps}): the limit is real, and fences are what cover it`));
  out.checks.push(check(controlSummary.lost > 0, `without the fence check the failover lost ${controlSummary.lost}/${k} acknowledged elements (must be > 0: the scenario bites)`));
  return out;
}

// ---------------------------------------------------------------------------------- soak

// A steady rate for a long time: memory and descriptors of every baton flat, and no lease
// left the moment traffic stops.
export async function soak(ctx) {
  const durationMs = ctx.long ? 10 * 60_000 : 10_000;
  const rate = ctx.long ? 80 : 60;
  const cl = await cluster(ctx, { batons: 2, ttl: '5s', waitTimeout: '5s' });
  const sessions = Array.from({ length: 20 }, (_, i) => `soak-${i}`);
  const results = [];
  const samples = cl.batons.map(() => []);
  const idle = cl.batons.map((b) => b.usage());
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      cl.batons.forEach((b, i) => samples[i].push({ t: ms(now()), ...b.usage() }));
      await sleep(ctx.long ? 5_000 : 1_000);
    }
  })();
  await openLoop({ targets: cl.targets, sessions, rate, durationMs, results, request: () => ({ path: SSE(4, 20), deadlineMs: 20_000 }) });
  sampling = false;
  await sampler;
  const out = await finish(ctx, cl, results, { settleMs: 0 });
  const metrics = await Promise.all(cl.batons.map((b) => b.metrics()));
  const held = metrics.reduce((n, m) => n + metricSum(m, 'baton_leases_held'), 0);
  const waiting = metrics.reduce((n, m) => n + metricSum(m, 'baton_lease_waiters'), 0);
  // Idle engine connections stay pooled for upstream.pool_idle_timeout (4 s).
  await sleep(5_000);
  const after = cl.batons.map((b) => b.usage());
  const mem = cl.batons.map((b, i) => {
    const s = samples[i];
    const warm = s[Math.floor(s.length / 4)] ?? s[0];
    const last = s[s.length - 1];
    return { baton: b.name, rssIdleKb: idle[i].rssKb, rssWarmKb: warm.rssKb, rssEndKb: last.rssKb, rssMaxKb: Math.max(...s.map((x) => x.rssKb)), fdsIdle: idle[i].fds, fdsMax: Math.max(...s.map((x) => x.fds)), fdsAfter: after[i].fds };
  });
  out.figures = { durationS: durationMs / 1000, rate, memory: mem, leasesHeldAfter: held, waitersAfter: waiting };
  const growthLimitKb = ctx.long ? 8 * 1024 : 16 * 1024;
  for (const m of mem) {
    out.checks.push(check(m.rssEndKb - m.rssWarmKb <= growthLimitKb, `${m.baton}: RSS ${m.rssWarmKb} KiB after warm-up, ${m.rssEndKb} KiB at the end (growth limit ${growthLimitKb} KiB)`));
    out.checks.push(check(m.fdsAfter <= m.fdsIdle + 2, `${m.baton}: ${m.fdsIdle} descriptors idle, ${m.fdsAfter} 5 s after traffic (at most +2)`));
  }
  out.checks.push(check(out.summary.leasesLeftAtStop === 0, `leases in Redis the moment traffic stopped: ${out.summary.leasesLeftAtStop}`));
  out.checks.push(check(held === 0 && waiting === 0, `baton_leases_held ${held}, baton_lease_waiters ${waiting} after traffic`));
  return out;
}

export const SCENARIOS = {
  control: { fn: control, what: 'the checker without baton (must see overlaps and losses)' },
  baseline: { fn: baseline, what: 'contention, no fault: 3 batons, many sessions, SSE and JSON' },
  'redis-freeze': { fn: redisFreeze, what: 'Redis frozen 2 s (SIGSTOP, CLIENT PAUSE WRITE), repeatedly' },
  'gc-pause': { fn: gcPause, what: 'a baton paused longer than the TTL while it streams' },
  'baton-kill': { fn: batonKill, what: 'a baton killed mid-stream' },
  'redis-cut-proxy': { fn: redisCutProxy, what: 'one baton cut off from Redis for 5 s by the fault proxy (stall, reset)' },
  'redis-cut-netns': { fn: redisCutNetns, what: 'one baton cut off from Redis for 5 s in a network namespace (DROP, REJECT)' },
  'flaky-link': { fn: flakyLink, what: 'every baton behind a randomly faulty Redis link' },
  'redis-restart': { fn: redisRestart, what: 'Redis killed and restarted empty mid-run' },
  'redis-failover': { fn: redisFailover, what: 'failover to a replica that had not received the leases (a documented limit)' },
  soak: { fn: soak, what: 'a steady rate for a long time: memory, descriptors, leftover leases' },
};
