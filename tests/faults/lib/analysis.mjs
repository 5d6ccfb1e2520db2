// What the records say: overlaps, lost elements, fence regressions, false "done"s.
import { countOutcomes } from './driver.mjs';

const INF = 1n << 62n;

function bySession(items) {
  const map = new Map();
  for (const item of items) {
    if (!map.has(item.sid)) map.set(item.sid, []);
    map.get(item.sid).push(item);
  }
  return map;
}

// Requests of one session inside the engine at the same time: a record entering before
// the latest exit of those that entered before it. A record still running counts as
// running for ever.
function countOverlaps(records, examples, pairs = null) {
  const sorted = [...records].sort((a, b) => (a.enter < b.enter ? -1 : a.enter > b.enter ? 1 : 0));
  let maxExit = -1n;
  let holder = null;
  let overlaps = 0;
  for (const r of sorted) {
    if (r.enter < maxExit) {
      overlaps += 1;
      if (pairs) pairs.push({ first: holder, second: r });
      if (examples.length < 5) examples.push({ sid: r.sid, first: holder.rid, firstFence: String(holder.fence), second: r.rid, secondFence: String(r.fence), gapMs: Number(maxExit - r.enter) / 1e6 });
    }
    const exit = r.exit ?? INF;
    if (exit > maxExit) { maxExit = exit; holder = r; }
  }
  return overlaps;
}

// Every overlap as { first, second } records (second entered while first was inside).
export function overlapPairs(records) {
  const pairs = [];
  for (const list of bySession(records).values()) countOverlaps(list, [], pairs);
  return pairs;
}

export function analyse({ results, engine }) {
  const { records, sets } = engine;
  const recordByRid = new Map();
  for (const r of records) if (r.rid) recordByRid.set(r.rid, r);
  const finalSets = new Map(Object.entries(sets).map(([sid, list]) => [sid, new Set(list)]));

  const overlapExamples = [];
  const acceptedExamples = [];
  let overlaps = 0;
  let acceptedOverlaps = 0;
  for (const list of bySession(records).values()) {
    overlaps += countOverlaps(list, overlapExamples);
    acceptedOverlaps += countOverlaps(list.filter((r) => r.outcome === 'committed'), acceptedExamples);
  }

  // Lost: the client saw `done`, the element is not in the final set (Jepsen lock-set).
  // False done: the client saw `done` but the engine never committed that request.
  let lost = 0;
  let falseDone = 0;
  const lostExamples = [];
  for (const r of results) {
    if (r.outcome !== 'done') continue;
    const rec = recordByRid.get(r.rid);
    if (!rec || rec.outcome !== 'committed') falseDone += 1;
    if (!finalSets.get(r.sid)?.has(r.rid)) {
      lost += 1;
      if (lostExamples.length < 5) lostExamples.push({ sid: r.sid, rid: r.rid, target: r.target });
    }
  }
  // Writes the engine accepted that are no longer in the set (acknowledged or not).
  let lostWrites = 0;
  for (const r of records) if (r.outcome === 'committed' && !finalSets.get(r.sid)?.has(r.rid)) lostWrites += 1;

  // Fence regressions. A fence is issued after its request was sent and before it entered
  // the engine. So a request sent after another one's fence entered the engine must carry
  // a greater fence. Checked for every request that reached the engine; equal fences of two
  // different requests count too.
  let fenceRegressions = 0;
  let missingFences = 0;
  const regressionExamples = [];
  const sentByRid = new Map(results.map((r) => [r.rid, r]));
  for (const [sid, list] of bySession(records)) {
    const entered = list.filter((r) => r.fence !== null).sort((a, b) => (a.enter < b.enter ? -1 : 1));
    missingFences += list.length - entered.length;
    const requests = list
      .filter((r) => r.fence !== null && sentByRid.has(r.rid))
      .map((r) => ({ rec: r, sent: sentByRid.get(r.rid).sent }))
      .sort((a, b) => (a.sent < b.sent ? -1 : 1));
    let i = 0;
    let maxFence = -1n;
    let maxRid = null;
    for (const { rec, sent } of requests) {
      while (i < entered.length && entered[i].enter < sent) {
        if (entered[i].fence > maxFence) { maxFence = entered[i].fence; maxRid = entered[i].rid; }
        i += 1;
      }
      if (rec.fence <= maxFence && rec.rid !== maxRid) {
        fenceRegressions += 1;
        if (regressionExamples.length < 5) regressionExamples.push({ sid, rid: rec.rid, fence: String(rec.fence), earlier: maxRid, earlierFence: String(maxFence) });
      }
    }
    const seen = new Map();
    for (const r of entered) {
      const other = seen.get(r.fence);
      if (other !== undefined && other !== r.rid) {
        fenceRegressions += 1;
        if (regressionExamples.length < 5) regressionExamples.push({ sid, rid: r.rid, fence: String(r.fence), duplicateOf: other });
      }
      seen.set(r.fence, r.rid);
    }
  }

  // Liveness: the longest time a session sat with no request inside the engine while a
  // request of it was waiting (sent before the gap began, still not over when it ended).
  // A hand-off costs a few ms; a frozen Redis, a lease or a ticket in line that nobody
  // holds, costs more.
  let longestIdleWithWaiterMs = 0;
  let idleExample = null;
  const gaps = [];
  const resultsBySession = bySession(results);
  for (const [sid, list] of bySession(records)) {
    const sorted = [...list].sort((a, b) => (a.enter < b.enter ? -1 : 1));
    const waiting = resultsBySession.get(sid) ?? [];
    let busyUntil = null;
    for (const r of sorted) {
      if (busyUntil !== null && r.enter > busyUntil) {
        const gapMs = Number(r.enter - busyUntil) / 1e6;
        const waited = waiting.some((w) => w.sent < busyUntil && w.end !== null && w.end > r.enter);
        if (waited) gaps.push(gapMs);
        if (gapMs > longestIdleWithWaiterMs && waited) {
          longestIdleWithWaiterMs = gapMs;
          idleExample = { sid, fromExitOf: sorted.find((x) => x.exit === busyUntil)?.rid, toEnterOf: r.rid };
        }
      }
      const exit = r.exit ?? INF;
      if (busyUntil === null || exit > busyUntil) busyUntil = exit;
    }
  }

  const outcomes = countOutcomes(results);
  const errors = Object.fromEntries(Object.entries(outcomes).filter(([k, v]) => k !== 'done' && k !== 'hang' && v > 0));
  let slowestMs = 0;
  for (const r of results) if (r.outcome !== 'hang' && r.end !== null) slowestMs = Math.max(slowestMs, Number(r.end - r.sent) / 1e6);
  const hangExamples = results.filter((r) => r.outcome === 'hang').slice(0, 5).map((r) => ({ rid: r.rid, sid: r.sid, target: r.target, detail: r.detail }));
  return {
    sent: results.length,
    completed: outcomes.done,
    errors,
    hangs: outcomes.hang,
    slowestMs: Math.round(slowestMs),
    longestIdleWithWaiterMs: Math.round(longestIdleWithWaiterMs),
    handoffGapMs: percentiles(gaps),
    engineRequests: records.length,
    overlaps,
    acceptedOverlaps,
    lost,
    lostWrites,
    falseDone,
    fenceRegressions,
    missingFences,
    staleRefused: records.filter((r) => r.outcome === 'stale_at_enter' || r.outcome === 'stale_at_write').length,
    examples: { idle: idleExample, overlap: overlapExamples, acceptedOverlap: acceptedExamples, lost: lostExamples, regression: regressionExamples, hang: hangExamples },
  };
}

function percentiles(list) {
  if (list.length === 0) return null;
  const s = [...list].sort((a, b) => a - b);
  const at = (q) => Number(s[Math.min(s.length - 1, Math.floor(q * s.length))].toFixed(1));
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: Number(s[s.length - 1].toFixed(1)) };
}

// The invariants every scenario holds to (unless it is the control, which must break them).
export function invariantFailures(summary) {
  const failures = [];
  if (summary.hangs > 0) failures.push(`${summary.hangs} silent hang(s): ${JSON.stringify(summary.examples.hang)}`);
  if (summary.acceptedOverlaps > 0) failures.push(`${summary.acceptedOverlaps} overlap(s) accepted by the engine: ${JSON.stringify(summary.examples.acceptedOverlap)}`);
  if (summary.lost > 0) failures.push(`${summary.lost} lost element(s): ${JSON.stringify(summary.examples.lost)}`);
  if (summary.falseDone > 0) failures.push(`${summary.falseDone} false done(s): the client saw done for a write the engine never made`);
  if (summary.fenceRegressions > 0) failures.push(`${summary.fenceRegressions} fence regression(s): ${JSON.stringify(summary.examples.regression)}`);
  if (summary.missingFences > 0) failures.push(`${summary.missingFences} leased request(s) reached the engine without Baton-Fence`);
  return failures;
}
