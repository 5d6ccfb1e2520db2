// The fault harness checked on its own, without baton: the analysis finds overlaps, lost
// elements and fence regressions in records made up for the purpose; the fault proxy
// does what each mode says; the checker engine refuses stale fences and loses elements
// when two requests of a session overlap. Built-in modules only: node --test harness.test.mjs
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { analyse } from './lib/analysis.mjs';
import { FaultProxy } from './fault-proxy.mjs';
import { createChecker } from './checker-engine.mjs';
import { makeTarget, send } from './lib/driver.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const ns = (ms) => BigInt(Math.round(ms * 1e6));

describe('analysis', () => {
  const rec = (sid, rid, fence, enter, exit, outcome = 'committed') => ({ sid, rid, fence: BigInt(fence), enter: ns(enter), exit: ns(exit), outcome });
  const res = (sid, rid, sent, outcome = 'done') => ({ sid, rid, sent: ns(sent), end: ns(sent + 50), outcome, target: 't' });

  test('sequential requests with growing fences: nothing to report', () => {
    const s = analyse({
      results: [res('s', 'a', 0), res('s', 'b', 5)],
      engine: { records: [rec('s', 'a', 10, 1, 10), rec('s', 'b', 11, 12, 20)], sets: { s: ['a', 'b'] } },
    });
    assert.deepEqual([s.overlaps, s.acceptedOverlaps, s.lost, s.fenceRegressions, s.falseDone, s.hangs], [0, 0, 0, 0, 0, 0]);
  });

  test('an overlap where both writes were kept, and the element it lost', () => {
    const s = analyse({
      results: [res('s', 'a', 0), res('s', 'b', 1)],
      engine: { records: [rec('s', 'a', 10, 1, 10), rec('s', 'b', 11, 5, 12)], sets: { s: ['b'] } },
    });
    assert.equal(s.overlaps, 1);
    assert.equal(s.acceptedOverlaps, 1);
    assert.equal(s.lost, 1);
    assert.deepEqual(s.examples.lost[0].rid, 'a');
  });

  test('an overlap whose stale write was refused is not accepted', () => {
    const s = analyse({
      results: [res('s', 'a', 0, 'stale_fence'), res('s', 'b', 1)],
      engine: { records: [rec('s', 'a', 10, 1, 10, 'stale_at_write'), rec('s', 'b', 11, 5, 8)], sets: { s: ['b'] } },
    });
    assert.equal(s.overlaps, 1);
    assert.equal(s.acceptedOverlaps, 0);
    assert.equal(s.lost, 0);
  });

  test('a request sent after a newer fence entered, with an older fence, is a regression', () => {
    const s = analyse({
      results: [res('s', 'a', 0), res('s', 'b', 20)],
      engine: { records: [rec('s', 'a', 1000, 1, 10), rec('s', 'b', 999, 21, 30)], sets: { s: ['a', 'b'] } },
    });
    assert.equal(s.fenceRegressions, 1);
  });

  test('a late request whose fence was issued before (a paused holder) is not a regression', () => {
    // b was sent before a entered: its older fence may have been issued first.
    const s = analyse({
      results: [res('s', 'b', 0, 'stale_fence'), res('s', 'a', 1)],
      engine: { records: [rec('s', 'a', 1000, 5, 10), rec('s', 'b', 999, 21, 21, 'stale_at_enter')], sets: { s: ['a'] } },
    });
    assert.equal(s.fenceRegressions, 0);
  });

  test('a done the engine never committed is a false done; a hang is counted', () => {
    const s = analyse({
      results: [res('s', 'a', 0), res('s', 'b', 0, 'hang')],
      engine: { records: [rec('s', 'a', 10, 1, 10, 'stale_at_write')], sets: {} },
    });
    assert.equal(s.falseDone, 1);
    assert.equal(s.hangs, 1);
  });
});

describe('fault proxy', () => {
  let echo;
  let proxy;
  const echoSockets = new Set();
  before(async () => {
    echo = net.createServer((socket) => { echoSockets.add(socket); socket.on('error', () => {}); socket.pipe(socket); });
    await new Promise((resolve) => echo.listen(0, '127.0.0.1', resolve));
    proxy = await new FaultProxy({ targetPort: echo.address().port, seed: 3 }).start();
  });
  after(async () => {
    await proxy.close();
    for (const socket of echoSockets) socket.destroy();
    echo.close();
  });

  // Sends `text` through the proxy; resolves with what came back, the pieces and the time.
  const roundTrip = async (text, { waitMs = 2_000 } = {}) => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    const started = performance.now();
    const pieces = [];
    let got = '';
    socket.write(text);
    const deadline = Date.now() + waitMs;
    socket.on('data', (chunk) => { pieces.push(chunk.length); got += chunk; });
    while (got.length < text.length && Date.now() < deadline) await sleep(2);
    socket.destroy();
    return { got, pieces, ms: performance.now() - started };
  };

  test('pass', async () => {
    proxy.set('pass');
    assert.equal((await roundTrip('hello')).got, 'hello');
  });

  test('latency adds its delay each way', async () => {
    proxy.set('latency', { ms: 60, jitter: 0 });
    const r = await roundTrip('hello');
    assert.equal(r.got, 'hello');
    assert.ok(r.ms >= 110, `round trip ${r.ms} ms`);
  });

  test('fragment cuts the bytes into small pieces, in order', async () => {
    proxy.set('fragment', { max: 3, gapMs: 2 });
    const text = 'x'.repeat(60) + 'the end';
    const r = await roundTrip(text);
    assert.equal(r.got, text);
    assert.ok(r.pieces.length >= 10, `pieces: ${r.pieces}`);
  });

  test('stall holds the bytes until the mode changes', async () => {
    proxy.set('stall');
    const socket = net.connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    let got = '';
    socket.on('data', (chunk) => { got += chunk; });
    socket.write('held');
    await sleep(200);
    assert.equal(got, '');
    proxy.set('pass');
    for (let i = 0; i < 200 && got !== 'held'; i += 1) await sleep(10);
    assert.equal(got, 'held');
    socket.destroy();
  });

  test('reset resets open and new connections', async () => {
    proxy.set('pass');
    const socket = net.connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    const failed = once(socket, 'error');
    proxy.set('reset');
    const [error] = await failed;
    assert.equal(error.code, 'ECONNRESET');
    const again = net.connect(proxy.port, '127.0.0.1');
    const [error2] = await once(again, 'error');
    assert.equal(error2.code, 'ECONNRESET');
    proxy.set('pass');
  });

  test('slowclose ends connections with a FIN after its delay', async () => {
    proxy.set('pass');
    const socket = net.connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    const started = performance.now();
    proxy.set('slowclose', { ms: 150 });
    socket.resume();
    await once(socket, 'end');
    assert.ok(performance.now() - started >= 140);
    socket.destroy();
    proxy.set('pass');
  });
});

describe('checker engine', () => {
  let checker;
  let target;
  before(async () => {
    checker = createChecker({ fenceCheck: true });
    await new Promise((resolve) => checker.server.listen(0, '127.0.0.1', resolve));
    target = makeTarget('engine', '127.0.0.1', checker.server.address().port);
  });
  after(() => {
    target.agent.destroy();
    checker.server.closeAllConnections();
    checker.server.close();
  });

  // A request straight to the engine with a chosen Baton-Fence.
  const withFence = (sid, fence, path) => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: target.port, method: 'POST', path, agent: false, headers: { 'x-session-id': sid, 'x-request-id': `${sid}-${fence}`, 'baton-fence': String(fence) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });

  test('an older fence is refused at the door (409) and at the write (event: error)', async () => {
    checker.reset();
    const slow = withFence('f', 100, '/work?tokens=10&delay=50');   // enters with 100, writes 0.5 s later
    while (!checker.state.records.some((r) => r.rid === 'f-100')) await sleep(5);
    const newer = await withFence('f', 200, '/work?tokens=1&delay=0');
    assert.match(newer.body, /event: done/);
    const older = await withFence('f', 150, '/work?tokens=1&delay=0');
    assert.equal(older.status, 409);
    const first = await slow;
    assert.match(first.body, /event: error\ndata: .*stale_fence/);
    assert.deepEqual(checker.snapshotAll().sets.f, ['f-200']);
  });

  test('without the fence check, two overlapping requests lose an element', async () => {
    checker.reset();
    checker.state.fenceCheck = false;
    const results = await Promise.all([send(target, { sid: 'o', path: '/work?tokens=3&delay=20' }), send(target, { sid: 'o', path: '/work?tokens=3&delay=20' })]);
    assert.deepEqual(results.map((r) => r.outcome), ['done', 'done']);
    assert.equal(checker.snapshotAll().sets.o.length, 1);
    checker.state.fenceCheck = true;
  });
});
