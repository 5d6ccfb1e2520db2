'use strict';
// The engine's fence check through real processes: a private redis-server and
// `node server.js` started twice, with FENCE_CHECK=1 and without, driven over HTTP.
// The tests of a describe run in order and build on one session's state.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ENGINE_DIR = path.join(__dirname, '..');
const READY_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 5_000;

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

// Spawns a process and waits until its output matches `ready`; resolves with the
// process and the match. A process that is not ready in time is killed.
function start(command, args, options, ready) {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const fail = (why) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')}: ${why}\n${output}`));
    };
    const timer = setTimeout(() => fail('not ready in time'), READY_TIMEOUT_MS);
    const onOutput = (chunk) => {
      output += chunk;
      const match = output.match(ready);
      if (match) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve({ child, match });
      }
    };
    const onExit = (code, signal) => fail(`exited (${code ?? signal}) before it was ready`);
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.once('exit', onExit);
    child.once('error', (err) => fail(err.message));
  });
}

async function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function startEngine(redisPort, fenceCheck) {
  const env = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: '0',  // the engine logs the port it was given
    INSTANCE: fenceCheck ? 'fence-check' : 'no-fence-check',
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
  };
  delete env.FENCE_CHECK;
  if (fenceCheck) env.FENCE_CHECK = '1';
  const { child, match } = await start(process.execPath, ['server.js'], { cwd: ENGINE_DIR, env },
    /msg="listening" address=\S+ port=(\d+)/);
  return { child, url: `http://127.0.0.1:${match[1]}` };
}

// Headers as baton sends them: the session, `no-cache` (reload the state from Redis)
// and the lease's fence, when given.
function headers(session, fence) {
  const picked = { 'X-Session-Id': session, 'Cache-Control': 'no-cache' };
  if (fence !== undefined) picked['Baton-Fence'] = String(fence);
  return picked;
}

async function call(url, init) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const type = res.headers.get('content-type') ?? '';
  const body = type.startsWith('application/json') ? await res.json() : await res.text();
  return { status: res.status, type, body };
}

function answer(engine, session, fence) {
  return call(`${engine.url}/api/answer`, {
    method: 'POST',
    headers: { ...headers(session, fence), 'Content-Type': 'application/json' },
    body: JSON.stringify({ answer: `under fence ${fence ?? 'none'}` }),
  });
}

function streamAnswer(engine, session, fence) {
  return call(`${engine.url}/stream?session=${session}&tokens=2&delay=0`, {
    method: 'POST',
    headers: headers(session, fence),
  });
}

// The session's state as stored in Redis (the route reads Redis, not the engine's copy).
async function state(engine, session) {
  const { status, body } = await call(`${engine.url}/api/state`, { headers: headers(session) });
  assert.equal(status, 200);
  const { counter, answers, fence } = body;
  return { counter, answers, fence };
}

async function stats(engine) {
  const { status, body } = await call(`${engine.url}/api/stats`, {});
  assert.equal(status, 200);
  return body;
}

let redis;
let redisPort;
let redisDir;

before(async () => {
  redisDir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-engine-fence-'));
  redisPort = await freePort();
  ({ child: redis } = await start('redis-server', [
    '--port', String(redisPort), '--bind', '127.0.0.1',
    '--save', '', '--appendonly', 'no', '--dir', redisDir,
  ], {}, /Ready to accept connections/));
});

after(async () => {
  await stop(redis);
  if (redisDir) fs.rmSync(redisDir, { recursive: true, force: true });
});

describe('with FENCE_CHECK=1', () => {
  const session = 'fence-check';
  let engine;
  before(async () => { engine = await startEngine(redisPort, true); });
  after(async () => { await stop(engine?.child); });

  test('a write under fence 200 is accepted', async () => {
    const res = await answer(engine, session, 200);
    assert.equal(res.status, 200);
    assert.equal(res.body.counter, 1);
    assert.equal((await state(engine, session)).fence, 200);
  });

  test('a stale fence (100) is refused with 409 and leaves the state as it was', async () => {
    const before = await state(engine, session);
    const res = await answer(engine, session, 100);
    assert.equal(res.status, 409);
    assert.match(res.body.error, /stale fence 100 \(state written under fence 200\)/);
    assert.deepEqual(await state(engine, session), before);
  });

  test('a newer fence (300) is accepted', async () => {
    const res = await answer(engine, session, 300);
    assert.equal(res.status, 200);
    assert.equal(res.body.counter, 2);
    assert.equal((await state(engine, session)).fence, 300);
  });

  // The engine checks only a fence it is given: a write without one (a request that
  // did not come through baton) is accepted and leaves the stored fence as it was.
  test('a write without Baton-Fence is accepted and keeps the fence', async () => {
    const res = await answer(engine, session);
    assert.equal(res.status, 200);
    assert.deepEqual(await state(engine, session), {
      counter: 3,
      answers: ['under fence 200', 'under fence 300', 'under fence none'],
      fence: 300,
    });
  });

  test('stats count the one refusal', async () => {
    const body = await stats(engine);
    assert.equal(body.fence_check, true);
    assert.equal(body.fenceRejects, 1);
  });

  // The stale write is refused before the stream starts, so it is a plain 409.
  test('the SSE route refuses a stale fence and streams under the current one', async () => {
    const before = await state(engine, session);
    const stale = await streamAnswer(engine, session, 100);
    assert.equal(stale.status, 409);
    assert.deepEqual(await state(engine, session), before);

    const current = await streamAnswer(engine, session, 300);
    assert.equal(current.status, 200);
    assert.match(current.type, /^text\/event-stream/);
    assert.match(current.body, /^event: done$/m);
    assert.equal((await state(engine, session)).counter, before.counter + 1);
    assert.equal((await stats(engine)).fenceRejects, 2);
  });
});

describe('without FENCE_CHECK', () => {
  const session = 'no-fence-check';
  let engine;
  before(async () => { engine = await startEngine(redisPort, false); });
  after(async () => { await stop(engine?.child); });

  test('a stale fence is accepted: the check is what refuses it', async () => {
    assert.equal((await answer(engine, session, 200)).status, 200);
    const stale = await answer(engine, session, 100);
    assert.equal(stale.status, 200);
    assert.equal(stale.body.counter, 2);
    // The stored fence never goes down, checked or not.
    assert.equal((await state(engine, session)).fence, 200);
    const body = await stats(engine);
    assert.equal(body.fence_check, false);
    assert.equal(body.fenceRejects, 0);
  });
});
