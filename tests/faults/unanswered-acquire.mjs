// An acquire that times out in baton while Redis is frozen still runs when Redis
// resumes, for a caller that has already answered 503. baton undoes it (a release and a
// leave under its token, written behind it: lockd/src/lease/redis_store.cpp); without
// that, the late acquire would
//
//   A. on a free session, take the lease for nobody: the session busy for a whole TTL;
//   B. on a held session, put a ticket first in line for nobody, so that the next real
//      request cannot take the free lease until the ticket's wait ends: 409 session_busy
//      although nothing runs.
//
//   node tests/faults/unanswered-acquire.mjs     exit 1 when either happens, 0 otherwise
//
// One redis-server, the checker engine, one baton-proxy (ttl 5s, wait_timeout 4s,
// redis.command_timeout 500ms), all on free loopback ports.
import fs from 'node:fs';
import { Baton, Checker, Redis, freePort, makeWorkdir, ms, now, sleep } from './lib/procs.mjs';
import { makeTarget, send } from './lib/driver.mjs';

const dir = makeWorkdir('orphan');
const redis = await new Redis({ dir, port: await freePort() }).start();
const checker = await new Checker({ dir }).start();
const baton = await new Baton({ name: 'baton', dir, enginePort: checker.port, redisPort: redis.port, ttl: '5s', waitTimeout: '4s', redisCommandTimeout: '500ms' }).start();
const target = makeTarget('baton', baton.host, baton.port);
const took = (r) => `${r.status} ${r.outcome} after ${ms(r.end - r.sent).toFixed(0)} ms`;
let orphanLease = false;
let ghostTicket = false;
try {
  // Scripts are loaded by the first request; before that a late EVALSHA only fails.
  await send(target, { sid: 'warm-up', path: '/work?tokens=1&delay=0' });

  console.log('A. a free session');
  redis.signal('SIGSTOP');
  const a1 = await send(target, { sid: 'free-1', path: '/work?tokens=1&delay=0' });
  redis.signal('SIGCONT');
  await sleep(100);
  const lease = await redis.command(['HGETALL', 'baton:{free-1}:lease']);
  console.log(`   request 1 while Redis is frozen: ${took(a1)}`);
  console.log(`   after Redis resumed: lease ${JSON.stringify(lease)}, PTTL ${await redis.command(['PTTL', 'baton:{free-1}:lease'])} ms`);
  const a2 = await send(target, { sid: 'free-1', path: '/work?tokens=1&delay=0' });
  console.log(`   request 2, nothing else running: ${took(a2)}`);
  orphanLease = Array.isArray(lease) && lease.length > 0;

  console.log('B. a held session');
  const holder = send(target, { sid: 'held-1', path: '/work?tokens=10&delay=100' });  // 1 s
  await sleep(200);
  redis.signal('SIGSTOP');
  const b1 = await send(target, { sid: 'held-1', path: '/work?tokens=1&delay=0' });
  redis.signal('SIGCONT');
  const resumed = now();
  const h = await holder;
  console.log(`   request 1 (a waiter) while Redis is frozen: ${took(b1)}; the holder: ${h.outcome}`);
  console.log(`   line after Redis resumed: ${JSON.stringify(await redis.command(['ZRANGE', 'baton:{held-1}:queue', '0', '-1']))}`);
  await sleep(200);
  const b2 = await send(target, { sid: 'held-1', path: '/work?tokens=1&delay=0' });
  console.log(`   request 2, ${ms(b2.sent - resumed).toFixed(0)} ms after Redis resumed, the holder done, nothing running: ${took(b2)}`);
  ghostTicket = b2.outcome !== 'done' || ms(b2.end - b2.sent) > 1_000;
} finally {
  target.agent.destroy();
  await baton.stop();
  await checker.stop();
  await redis.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(`RESULT: orphan lease ${orphanLease ? 'YES' : 'no'}, ghost ticket in line ${ghostTicket ? 'YES' : 'no'}`);
process.exit(orphanLease || ghostTicket ? 1 : 0);
