// Every baton configuration under deploy/ and k8s/ passes the binaries' own --check,
// and baton-probe (the image's health check) tells a healthy baton from an unhealthy one.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, test, before, after } from 'node:test';
import {
  binDir, binaryForConfig, checkConfig, findFiles, isExecutable, path, placeholderFor,
  readText, rel, requiredVariables, root, run,
} from './lib.mjs';

const configs = [...findFiles(path.join(root, 'deploy'), /\.ya?ml$/), ...findFiles(path.join(root, 'k8s'), /\.ya?ml$/)]
  .filter((file) => binaryForConfig(file));

describe('every baton configuration in deploy/ and k8s/ passes --check', () => {
  test('the binaries are built', () => {
    for (const binary of ['baton-proxy', 'baton-lockd']) {
      assert.ok(isExecutable(path.join(binDir, binary)), `no ${binary} in ${binDir} (BATON_BIN_DIR)`);
    }
  });

  test('the files that deployments use are among them', () => {
    const names = configs.map(rel);
    for (const expected of ['deploy/compose/baton.yaml', 'deploy/compose/lockd.yaml', 'k8s/base/baton.yaml']) {
      assert.ok(names.includes(expected), `${expected} not found; found ${names.join(', ')}`);
    }
  });

  for (const file of configs) {
    test(rel(file), () => {
      // Only the variables the file needs, with placeholders: nothing leaks in from the
      // environment the tests run in.
      const env = Object.fromEntries(requiredVariables(readText(file)).map((name) => [name, placeholderFor(name)]));
      const { ok, output } = checkConfig(binaryForConfig(file), file, env);
      assert.ok(ok, `${rel(file)} with ${JSON.stringify(env)}:\n${output}`);
    });
  }
});

// --- baton-probe ----------------------------------------------------------------------

const probe = path.join(root, 'deploy', 'baton-probe');

async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

function runProbe(args, env = {}) {
  try {
    run(probe, args, { env: { PATH: process.env.PATH, ...env }, timeout: 10_000 });
    return { code: 0, stderr: '' };
  } catch (error) {
    return { code: error.status ?? -1, stderr: String(error.stderr ?? '') };
  }
}

async function waitUntil(predicate, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// Starts baton-proxy with `config`; resolves to the child once its admin port answers.
async function startBaton(dir, name, config, adminPort, env = {}) {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, config);
  const child = spawn(path.join(binDir, 'baton-proxy'), ['--config', file], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (chunk) => { log += chunk; });
  const connects = () => runProbe(['/healthz', `127.0.0.1:${adminPort}`], env).stderr.indexOf('cannot connect') === -1;
  try {
    await waitUntil(() => child.exitCode === null && connects(), `baton-proxy (${name}) to listen`);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${error.message}\n${log}`);
  }
  return child;
}

async function stop(child) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

describe('baton-probe', () => {
  let dir;
  const children = [];
  let engine;
  let ports;

  before(async () => {
    assert.ok(isExecutable(probe), 'deploy/baton-probe must be executable');
    ports = { listen: await freePort(), admin: await freePort(), engine: await freePort(), listen2: await freePort(), admin2: await freePort() };
    dir = mkdtempSync(path.join(tmpdir(), 'baton-probe-'));
  });

  after(async () => {
    for (const child of children) await stop(child);
    if (engine) engine.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('admin on loopback: /healthz is 0, /readyz is 1 until the engine listens, then 0', async () => {
    const baton = await startBaton(dir, 'loopback', [
      `listen: 127.0.0.1:${ports.listen}`,
      `upstream: { url: "http://127.0.0.1:${ports.engine}" }`,
      `admin: { listen: "127.0.0.1:${ports.admin}" }`,
      'lease: { backend: memory }',
      'logging: { access_log: false }',
    ].join('\n'), ports.admin);
    children.push(baton);
    const admin = `127.0.0.1:${ports.admin}`;

    assert.equal(runProbe(['/healthz', admin]).code, 0);
    const notReady = runProbe(['/readyz', admin]);
    assert.equal(notReady.code, 1);
    assert.match(notReady.stderr, /503/, 'the probe says what answered');
    assert.match(notReady.stderr, /engine/, 'and why (the body of /readyz)');

    engine = http.createServer((req, res) => res.end('ok')).listen(ports.engine, '127.0.0.1');
    await once(engine, 'listening');
    assert.equal(runProbe(['/readyz', admin]).code, 0);
    assert.equal(runProbe(['/healthz'], { BATON_PROBE_ADDR: admin }).code, 0, 'BATON_PROBE_ADDR sets the address');
  });

  test('admin off loopback (as in compose and Kubernetes): the probe sends $BATON_ADMIN_TOKEN', async () => {
    const token = 'CHANGE-ME-test-token';
    const baton = await startBaton(dir, 'token', [
      `listen: 127.0.0.1:${ports.listen2}`,
      `upstream: { url: "http://127.0.0.1:${ports.engine}" }`,
      `admin: { listen: "0.0.0.0:${ports.admin2}", token: "\${BATON_ADMIN_TOKEN}" }`,
      'lease: { backend: memory }',
      'logging: { access_log: false }',
    ].join('\n'), ports.admin2, { BATON_ADMIN_TOKEN: token });
    children.push(baton);
    const admin = `127.0.0.1:${ports.admin2}`;

    const anonymous = runProbe(['/healthz', admin]);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /401/);
    assert.equal(runProbe(['/healthz', admin], { BATON_ADMIN_TOKEN: 'wrong' }).code, 1);
    assert.equal(runProbe(['/healthz', admin], { BATON_ADMIN_TOKEN: token }).code, 0);
  });

  test('nothing listening: 1, and says so', async () => {
    const result = runProbe(['/healthz', `127.0.0.1:${await freePort()}`]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot connect/);
  });
});

