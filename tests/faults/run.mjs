// Runs fault scenarios against real processes and prints, for each, the figures of
// docs/RELIABILITY.md: requests sent, completed, explicit errors by class, overlaps,
// lost set elements, fence regressions, hangs, time to recover.
//
//   node tests/faults/run.mjs [--long] [--json FILE] [--keep] SCENARIO... | all
//
// Exit status: 0 every scenario held, 1 one failed, 77 every scenario asked was skipped.
// KEEP=1 keeps the logs of passing scenarios too; FAULTS_DEBUG=1 prints the timelines
// behind some figures (freezes, cuts, restarts).
// Needs build/bin/baton-proxy (or BATON_BIN_DIR), redis-server and node 20; runs as any
// user, except redis-cut-netns, which needs root (and skips with the reason otherwise).
import fs from 'node:fs';
import path from 'node:path';
import { SCENARIOS } from './scenarios.mjs';
import { BIN_DIR, makeWorkdir } from './lib/procs.mjs';

function usage() {
  return `usage: run.mjs [--long] [--json FILE] [--keep] SCENARIO... | all\nscenarios:\n${Object.entries(SCENARIOS).map(([k, v]) => `  ${k.padEnd(16)} ${v.what}`).join('\n')}`;
}

function table(name, out) {
  const s = out.summary;
  const errors = Object.entries(s.errors ?? {}).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  return [
    `  requests sent        ${s.sent}`,
    `  completed (done)     ${s.completed}`,
    `  explicit errors      ${errors}`,
    `  silent hangs         ${s.hangs} (slowest request that ended: ${s.slowestMs} ms)`,
    `  overlaps             ${s.overlaps} seen by the engine, ${s.acceptedOverlaps} accepted (both writes kept)`,
    `  stale fences refused ${s.staleRefused}`,
    `  hand-off gap         ${s.handoffGapMs ? `p50 ${s.handoffGapMs.p50} ms, p99 ${s.handoffGapMs.p99} ms, max ${s.handoffGapMs.max} ms (${s.handoffGapMs.n} hand-offs to a waiting request)` : 'no hand-off to a waiting request'}`,
    `  lost set elements    ${s.lost} (writes lost, acknowledged or not: ${s.lostWrites})`,
    `  false done           ${s.falseDone}`,
    `  fence regressions    ${s.fenceRegressions}`,
    s.baton ? `  baton counters       leases lost ${s.baton.leasesLost}, late releases ${s.baton.lateReleases}, redis errors ${s.baton.redisErrors}, backend_down ${s.baton.backendDown}` : null,
    s.leasesLeft !== undefined ? `  leases left          ${s.leasesLeftAtStop} when traffic stopped, ${s.leasesLeft} after settling` : null,
    `  figures              ${JSON.stringify(out.figures)}`,
  ].filter(Boolean).join('\n');
}

async function main(argv) {
  let long = false;
  let jsonFile = null;
  let keep = process.env.KEEP === '1';
  const names = [];
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--long') long = true;
    else if (argv[i] === '--short') long = false;
    else if (argv[i] === '--json') jsonFile = argv[++i];
    else if (argv[i] === '--keep') keep = true;
    else if (argv[i] === '-h' || argv[i] === '--help') { console.log(usage()); return 0; }
    else if (argv[i] === 'all') names.push(...Object.keys(SCENARIOS));
    else if (SCENARIOS[argv[i]]) names.push(argv[i]);
    else { console.error(`unknown scenario ${argv[i]}\n${usage()}`); return 2; }
  }
  if (names.length === 0) { console.error(usage()); return 2; }
  if (!fs.existsSync(path.join(BIN_DIR, 'baton-proxy'))) { console.error(`no ${BIN_DIR}/baton-proxy: build first (cmake --build build)`); return 1; }

  let failed = 0;
  let skipped = 0;
  const report = [];
  for (const name of names) {
    const dir = makeWorkdir(name);
    const ctx = { dir, long, cleanup: [], log: (line) => console.log(line) };
    const started = Date.now();
    console.log(`== ${name} (${long ? 'long' : 'short'}): ${SCENARIOS[name].what}\n  logs in ${dir}`);
    let out;
    try {
      out = await SCENARIOS[name].fn(ctx);
    } catch (error) {
      out = { error: error.stack ?? String(error) };
    } finally {
      for (const fn of ctx.cleanup.reverse()) {
        try { await fn(); } catch (error) { console.log(`  cleanup: ${error.message}`); }
      }
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (out.skipped) {
      skipped += 1;
      console.log(`SKIP ${name}: ${out.skipped}\n`);
      report.push({ name, long, skipped: out.skipped });
      fs.rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (out.error) {
      failed += 1;
      console.log(`FAIL ${name}: the scenario could not run: ${out.error}\n  logs kept in ${dir}\n`);
      report.push({ name, long, error: out.error, dir });
      continue;
    }
    console.log(table(name, out));
    const bad = out.checks.filter((c) => !c.ok);
    for (const c of out.checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.text}`);
    console.log(`${bad.length ? 'FAIL' : 'PASS'} ${name} (${seconds} s)${bad.length || keep ? `; logs kept in ${dir}` : ''}\n`);
    if (bad.length) failed += 1;
    else if (!keep) fs.rmSync(dir, { recursive: true, force: true });
    report.push({ name, long, seconds: Number(seconds), ok: bad.length === 0, summary: out.summary, figures: out.figures, checks: out.checks });
  }
  if (jsonFile) {
    const text = JSON.stringify(report, (k, v) => (typeof v === 'bigint' ? v.toString() : v), 2);
    fs.writeFileSync(jsonFile, `${text}\n`);
  }
  if (failed) return 1;
  if (skipped === names.length) return 77;
  return 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (error) => {
  console.error(error.stack ?? error);
  process.exit(1);
});
