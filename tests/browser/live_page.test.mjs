// baton-proxy's live lease page in a real browser (Debian's headless Chromium, driven by
// playwright-core): a private redis-server, a baton-proxy whose admin listener serves the
// page, and a baton-lockd on the same Redis and key prefix through which the test takes
// and releases leases, as another baton would. The tests run in order on one page.
//
//   BATON_BIN_DIR          where baton-proxy and baton-lockd are (default ../../build/bin)
//   BATON_SCREENSHOT_DIR   where the screenshot goes (default ../../build/screenshots)

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN_DIR = process.env.BATON_BIN_DIR || path.join(HERE, '../../build/bin');
const SCREENSHOT_DIR = process.env.BATON_SCREENSHOT_DIR || path.join(HERE, '../../build/screenshots');
const CHROMIUM = '/usr/bin/chromium';
const READY_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 5_000;
const PAGE_TIMEOUT_MS = 15_000;
const ADMIN_TOKEN = 'browser-test-token';
const KEY_PREFIX = 'browsertest';
const HOLDER = 'browser-test-worker';  // the instance name the leases are taken in

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

// Spawns a process and waits until its output matches `ready`. A process that is not
// ready in time is killed; its output goes into the error.
function start(name, command, args, ready, logFile) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = fs.createWriteStream(logFile);
  return new Promise((resolve, reject) => {
    let output = '';
    let isReady = false;
    const fail = (why) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${name}: ${why}\n${output}`));
    };
    const timer = setTimeout(() => fail('not ready in time'), READY_TIMEOUT_MS);
    const onExit = (code, signal) => fail(`exited (${code ?? signal}) before it was ready`);
    const onOutput = (chunk) => {
      log.write(chunk);
      if (isReady) return;
      output += chunk;
      if (ready.test(output)) {
        isReady = true;
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(child);
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.once('exit', onExit);
    child.once('error', (error) => fail(error.message));
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

async function call(url, init = {}) {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const type = response.headers.get('content-type') ?? '';
  const body = type.startsWith('application/json') ? await response.json() : await response.text();
  return { status: response.status, body };
}

// Tries `attempt` until it returns something, for processes still connecting to Redis.
async function eventually(what, attempt) {
  const giveUp = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const result = await attempt().catch(() => undefined);
    if (result !== undefined) return result;
    if (Date.now() > giveUp) throw new Error(`${what}: not within ${READY_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the live lease page in Chromium', () => {
  const processes = [];
  let workDir;
  let adminUrl;
  let lockdUrl;
  let browser;
  let page;
  const pageProblems = [];

  // baton-lockd's lease API: what a worker beside the proxies would call.
  const lockd = {
    async acquire(key) {
      const query = `ttl=60s&wait=0s&instance=${HOLDER}&request_id=req-${key}`;
      const { status, body } = await call(`${lockdUrl}/v1/leases/${key}?${query}`, { method: 'POST' });
      assert.equal(status, 200, JSON.stringify(body));
      return body.token;
    },
    async release(key, token) {
      const { status, body } = await call(`${lockdUrl}/v1/leases/${key}?token=${token}`, { method: 'DELETE' });
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.released, true);
    },
    renew(key, token) {
      return call(`${lockdUrl}/v1/leases/${key}/renew?token=${token}`, { method: 'POST' });
    },
  };

  const row = (session) => page.locator(`#leases tbody tr[data-session="${session}"]`);

  before(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-browser-'));
    const [redisPort, proxyPort, enginePort, adminPort, lockdPort] =
      await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);

    processes.push(await start('redis-server', 'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', workDir],
      /Ready to accept connections/, path.join(workDir, 'redis.log')));

    const redis = `{ url: "redis://127.0.0.1:${redisPort}", key_prefix: ${KEY_PREFIX} }`;
    fs.writeFileSync(path.join(workDir, 'baton.yaml'), [
      'instance_id: baton-browser',
      `listen: 127.0.0.1:${proxyPort}`,
      'threads: 1',
      `upstream: { url: "http://127.0.0.1:${enginePort}" }`,  // no engine: the page needs none
      `admin: { listen: "127.0.0.1:${adminPort}", token: ${ADMIN_TOKEN} }`,
      'lease: { backend: redis }',
      `redis: ${redis}`,
      'logging: { level: info, format: text }',
      '',
    ].join('\n'));
    processes.push(await start('baton-proxy', path.join(BIN_DIR, 'baton-proxy'),
      ['--config', path.join(workDir, 'baton.yaml')], /admin endpoint on/, path.join(workDir, 'baton-proxy.log')));

    fs.writeFileSync(path.join(workDir, 'lockd.yaml'), [
      'instance_id: lockd-browser',
      `listen: 127.0.0.1:${lockdPort}`,
      'threads: 1',
      'lease: { backend: redis }',
      `redis: ${redis}`,
      'logging: { level: info, format: text }',
      '',
    ].join('\n'));
    processes.push(await start('baton-lockd', path.join(BIN_DIR, 'baton-lockd'),
      ['--config', path.join(workDir, 'lockd.yaml')], /listening on/, path.join(workDir, 'baton-lockd.log')));

    adminUrl = `http://127.0.0.1:${adminPort}`;
    lockdUrl = `http://127.0.0.1:${lockdPort}`;
    // Both reach Redis in the background: the admin answers 503 until then.
    await eventually('the admin lists leases', async () => {
      const { status } = await call(`${adminUrl}/leases`);
      return status === 200 ? true : undefined;
    });

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 480 } });
    page.setDefaultTimeout(PAGE_TIMEOUT_MS);
    page.on('pageerror', (error) => pageProblems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) pageProblems.push(`console: ${message.text()}`);
    });
  });

  after(async () => {
    await browser?.close();
    for (const child of processes.reverse()) await stop(child);
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  test('the page loads from the admin listener, connects to its stream and shows no lease', async () => {
    const response = await page.goto(`${adminUrl}/leases`);
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-security-policy'], /^default-src 'none'; script-src 'sha256-/);
    await page.locator('#status[data-state="connected"]').waitFor();
    await page.locator('#empty').waitFor({ state: 'visible' });
    assert.equal(await row('browser-held').count(), 0);
  });

  test('a lease taken through baton-lockd appears, and disappears when it is released', async () => {
    const token = await eventually('baton-lockd takes a lease', () => lockd.acquire('browser-held'));
    const held = row('browser-held');
    await held.waitFor();
    const cells = await held.locator('td').allTextContents();
    assert.equal(cells[0], 'browser-held');
    assert.equal(cells[1], HOLDER);
    assert.equal(cells[2], 'req-browser-held');
    assert.equal(cells[3], 'baton-lockd');
    assert.match(cells[4], /^\d+$/);  // the fence
    assert.equal(cells[7], '0');      // waiters
    assert.match(await page.locator('#counts').textContent(), /^1 lease held, 0 requests waiting$/);

    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'leases-live-page.png'), fullPage: true });

    await lockd.release('browser-held', token);
    await held.waitFor({ state: 'detached' });
    await page.locator('#empty').waitFor({ state: 'visible' });
  });

  test('Force release asks for confirmation, ends the lease, and its holder then finds it lost', async () => {
    await page.locator('#token').fill(ADMIN_TOKEN);
    await page.locator('#use-token').click();  // reconnects the stream with the token
    await page.locator('#status[data-state="connected"]').waitFor();

    const token = await lockd.acquire('browser-forced');
    const forced = row('browser-forced');
    await forced.waitFor();
    assert.equal((await lockd.renew('browser-forced', token)).status, 200);

    const asked = new Promise((resolve) => {
      page.once('dialog', async (dialog) => {
        resolve({ type: dialog.type(), message: dialog.message() });
        await dialog.accept();
      });
    });
    await forced.locator('button.force-release').click();
    const dialog = await asked;
    assert.equal(dialog.type, 'confirm');
    assert.match(dialog.message, /browser-forced/);
    await forced.waitFor({ state: 'detached' });
    await page.locator('#notice', { hasText: 'released the lease on browser-forced' }).waitFor();

    const renewal = await lockd.renew('browser-forced', token);
    assert.equal(renewal.status, 409);
    assert.equal(renewal.body.error, 'lost');
  });

  test('the page ran under its Content-Security-Policy without a violation or an error', () => {
    assert.deepEqual(pageProblems, []);
  });
});
