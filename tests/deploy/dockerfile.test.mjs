// deploy/Dockerfile (no Docker engine runs here, so the file is read, not built): its
// build stage runs the scripts CI runs, its runtime stage installs a Debian package for
// every shared library the built binaries load, and runs as a non-root user with a
// health check and SIGTERM. Also .dockerignore and the demo engine's Dockerfile.
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { describe, test } from 'node:test';
import { binDir, existsSync, isExecutable, path, readText, root, run, which } from './lib.mjs';

// Instructions of a Dockerfile as { op, args, stage }, with line continuations joined and
// comments dropped; stages as { name, from, instructions }.
export function parseDockerfile(text) {
  const lines = text.split('\n').filter((line) => !/^\s*#/.test(line));
  const joined = lines.join('\n').replace(/\\\n/g, ' ');
  const args = {};
  const stages = [];
  for (const line of joined.split('\n')) {
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const op = match[1].toUpperCase();
    const rest = match[2].trim();
    if (op === 'ARG' && !stages.length) {
      const [name, value = ''] = rest.split('=');
      args[name] = value;
      continue;
    }
    if (op === 'FROM') {
      const [image, , name] = rest.split(/\s+/);
      const from = image.replace(/\$\{(\w+)\}/g, (_, n) => args[n] ?? '');
      stages.push({ name: name ?? String(stages.length), from, instructions: [] });
      continue;
    }
    stages.at(-1)?.instructions.push({ op, args: rest });
  }
  return stages;
}

const dockerfile = path.join(root, 'deploy', 'Dockerfile');
const stages = parseDockerfile(readText(dockerfile));
const runtime = stages.at(-1);
const buildStages = stages.slice(0, -1);
const ops = (stage, op) => stage.instructions.filter((i) => i.op === op);

// The Debian packages `apt-get install` names in a stage.
function installedPackages(stage) {
  const packages = new Set();
  for (const { args } of ops(stage, 'RUN')) {
    for (const command of args.split(/&&|;/)) {
      const words = command.trim().split(/\s+/);
      const at = words.indexOf('install');
      if (!words.some((w) => /apt-get$|^apt$/.test(w)) || at < 0) continue;
      for (const word of words.slice(at + 1)) if (!word.startsWith('-')) packages.add(word);
    }
  }
  return packages;
}

// The Debian package owning a file; tries the path as ldd gives it and its /usr form
// (Debian 12 merges /lib into /usr/lib, and dpkg knows one spelling).
function owningPackage(file) {
  const candidates = new Set([file, realpathSync(file)]);
  for (const candidate of [...candidates]) {
    if (/^\/(lib|lib64|bin|sbin)\//.test(candidate)) candidates.add(`/usr${candidate}`);
    if (/^\/usr\/(lib|lib64|bin|sbin)\//.test(candidate)) candidates.add(candidate.slice(4));
  }
  for (const candidate of candidates) {
    try {
      return run('dpkg', ['-S', candidate]).split(':')[0].trim();
    } catch {
      // try the next spelling
    }
  }
  return null;
}

// Packages in every Debian image (Essential), which a runtime stage need not install.
const essential = new Set(['libc6']);

describe('deploy/Dockerfile', () => {
  test('is multi-stage: builds on Debian 12, runs on Debian 12 slim', () => {
    assert.ok(buildStages.length >= 1, 'a build stage and a runtime stage');
    assert.match(buildStages[0].from, /^debian:12(\b|$)/, `build stage FROM ${buildStages[0].from}`);
    assert.match(runtime.from, /^debian:12-slim\b/, `runtime stage FROM ${runtime.from}`);
  });

  test('the build stage runs the scripts CI runs: deploy/install-deps.sh and deploy/build.sh', () => {
    const runs = buildStages.flatMap((stage) => ops(stage, 'RUN').map((i) => i.args));
    for (const script of ['deploy/install-deps.sh', 'deploy/build.sh']) {
      assert.ok(runs.some((args) => new RegExp(`(^|\\s)(\\./)?${script.replace('.', '\\.')}(\\s|$)`).test(args)), `no RUN of ${script}`);
    }
    // ... the same scripts CI's chain calls: .ci/run -> tests/run.sh -> deploy/build.sh -> deploy/install-deps.sh.
    assert.match(readText(path.join(root, 'tests', 'run.sh')), /deploy\/build\.sh/);
    assert.match(readText(path.join(root, 'deploy', 'build.sh')), /deploy\/install-deps\.sh/);
  });

  test('the runtime stage copies both binaries from the build, runs baton-proxy with a config path', () => {
    const copies = ops(runtime, 'COPY').map((i) => i.args).filter((args) => /--from=/.test(args));
    for (const binary of ['baton-proxy', 'baton-lockd']) {
      assert.ok(copies.some((args) => args.includes(`build/bin/${binary}`)), `no COPY --from of ${binary}`);
    }
    const entrypoint = ops(runtime, 'ENTRYPOINT').at(-1)?.args ?? '';
    const cmd = ops(runtime, 'CMD').at(-1)?.args ?? '';
    assert.match(entrypoint, /baton-proxy/);
    assert.match(cmd, /"--config",\s*"\/etc\/baton\/baton\.yaml"/);
  });

  test('runs as a numeric non-root user, stops with SIGTERM, has a HEALTHCHECK on /healthz', () => {
    const user = ops(runtime, 'USER').at(-1)?.args;
    assert.ok(user, 'no USER in the runtime stage');
    const name = user.split(':')[0];
    assert.ok(!['root', '0'].includes(name), `USER ${user}`);
    assert.match(name, /^\d+$/, 'numeric, so that runAsNonRoot can verify it');
    assert.equal(ops(runtime, 'STOPSIGNAL').at(-1)?.args, 'SIGTERM');
    const healthcheck = ops(runtime, 'HEALTHCHECK').at(-1)?.args ?? '';
    assert.match(healthcheck, /\bCMD\b/, `HEALTHCHECK ${healthcheck || 'missing'}`);
    assert.match(healthcheck, /\/healthz/);
    // The probe it runs is copied into the image from the repository.
    const probe = /"([^"]*baton-probe)"/.exec(healthcheck)?.[1];
    assert.ok(probe, 'the HEALTHCHECK runs baton-probe');
    const copied = ops(runtime, 'COPY').some((i) => i.args.includes('deploy/baton-probe') && i.args.trim().endsWith(probe));
    assert.ok(copied, `${probe} is not copied from deploy/baton-probe`);
    assert.ok(isExecutable(path.join(root, 'deploy', 'baton-probe')));
  });

  test('the runtime stage installs the package of every shared library the built binaries load', () => {
    assert.ok(which('ldd') && which('dpkg'), 'ldd and dpkg (Debian) are needed for this test');
    const installed = installedPackages(runtime);
    const needed = new Map();
    for (const binary of ['baton-proxy', 'baton-lockd']) {
      const file = path.join(binDir, binary);
      assert.ok(isExecutable(file), `no ${file} (BATON_BIN_DIR)`);
      for (const line of run('ldd', [file]).split('\n')) {
        const match = /=>\s+(\/\S+)/.exec(line);
        if (!match) continue;                       // linux-vdso, the loader itself
        const pkg = owningPackage(match[1]);
        assert.ok(pkg, `${binary}: no Debian package owns ${match[1]}`);
        needed.set(pkg.replace(/:.*$/, ''), `${binary}: ${line.trim()}`);
      }
    }
    assert.ok(needed.size > 3, `ldd reported only ${[...needed.keys()].join(', ')}`);
    const missing = [...needed].filter(([pkg]) => !installed.has(pkg) && !essential.has(pkg));
    assert.deepEqual(missing, [], `the runtime stage does not install: ${missing.map(([p, why]) => `${p} (${why})`).join('; ')}`);
    assert.ok(installed.has('ca-certificates'), 'ca-certificates, for rediss://');
  });
});

describe('.dockerignore', () => {
  const patterns = readText(path.join(root, '.dockerignore')).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const toRegex = (pattern) => new RegExp(`^${pattern.replace(/^\//, '').replace(/[.+^$()|[\]{}]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}(/.*)?$`);
  const ignored = (file) => {
    let result = false;
    for (const pattern of patterns) {
      if (pattern.startsWith('!')) { if (toRegex(pattern.slice(1)).test(file)) result = false; } else if (toRegex(pattern).test(file)) result = true;
    }
    return result;
  };

  test('leaves out the host build, node_modules and git', () => {
    for (const file of ['build/CMakeCache.txt', 'deploy/demo-engine/node_modules/x/index.js', 'tests/browser/node_modules/y', '.git/HEAD']) {
      assert.ok(ignored(file), `${file} would be sent to the build`);
    }
  });

  test('keeps what the build stage needs', () => {
    for (const file of ['CMakeLists.txt', 'cmake/BatonTarget.cmake', 'lockd/CMakeLists.txt', 'proxy/CMakeLists.txt', 'deploy/install-deps.sh', 'deploy/build.sh', 'deploy/baton-probe']) {
      assert.ok(existsSync(path.join(root, file)), `${file} is not in the repository any more: update this test`);
      assert.ok(!ignored(file), `${file} is left out of the build context`);
    }
  });
});

describe('deploy/demo-engine/Dockerfile', () => {
  const dir = path.join(root, 'deploy', 'demo-engine');
  const [stage] = parseDockerfile(readText(path.join(dir, 'Dockerfile'))).slice(-1);

  test('installs with npm ci from the lock file and runs as a numeric non-root user', () => {
    assert.ok(ops(stage, 'RUN').some((i) => /\bnpm ci\b/.test(i.args)), 'npm ci');
    const user = ops(stage, 'USER').at(-1)?.args ?? 'root';
    assert.match(user.split(':')[0], /^[1-9]\d*$/, `USER ${user}`);
  });

  test('every file it copies exists', () => {
    for (const { args } of ops(stage, 'COPY')) {
      const sources = args.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1);
      for (const source of sources) assert.ok(existsSync(path.join(dir, source)), `COPY ${source}: no such file in deploy/demo-engine`);
    }
  });
});
