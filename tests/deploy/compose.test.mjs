// deploy/compose.yaml: it parses, every file it names exists, each baton sidecar joins
// its engine's network namespace, published ports are on the host's loopback only, the
// configurations it mounts pass --check with the environment it gives them, and the
// balancer's nginx.conf is valid and points at the batons.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  checkConfig, existsSync, parseYaml, path, placeholderFor, readText, root, which, withTempDir,
} from './lib.mjs';

const deployDir = path.join(root, 'deploy');
const composeFile = path.join(deployDir, 'compose.yaml');
// Merge keys (<<: *baton) as Compose reads them.
const compose = parseYaml(readText(composeFile), 'deploy/compose.yaml', { merge: true });
const services = compose.services ?? {};

// Compose's interpolation, with placeholders for what the user must set (${VAR:?...} and
// ${VAR}) and the defaults of ${VAR:-default}.
function interpolate(value) {
  return String(value).replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (whole, name, op, arg) => {
    if (whole === '$$') return '$';
    if (op === ':-' || op === '-') return arg;
    return placeholderFor(name);
  });
}

const isBaton = (service) => service.image === 'baton:local' || service.build?.dockerfile === 'deploy/Dockerfile';
const isLockd = (service) => (service.entrypoint ?? []).join(' ').includes('baton-lockd');
const sidecars = Object.entries(services).filter(([, s]) => isBaton(s) && !isLockd(s));

// "host_ip:host:container" and the long form, as { hostIp, published, target }.
function publishedPorts(service) {
  return (service.ports ?? []).map((port) => {
    if (typeof port === 'object') return { hostIp: port.host_ip, published: port.published, target: Number(port.target) };
    const parts = String(port).split(':');
    if (parts.length === 3) return { hostIp: parts[0], published: parts[1], target: Number(parts[2].split('/')[0]) };
    if (parts.length === 2) return { hostIp: undefined, published: parts[0], target: Number(parts[1].split('/')[0]) };
    return { hostIp: undefined, published: undefined, target: Number(parts[0].split('/')[0]) };
  });
}

// Bind mounts as { source (absolute), target }.
function bindMounts(service) {
  return (service.volumes ?? []).flatMap((volume) => {
    if (typeof volume === 'object') return volume.type === 'bind' ? [{ source: path.resolve(deployDir, volume.source), target: volume.target }] : [];
    const [source, target] = String(volume).split(':');
    return /^[./~]/.test(source) ? [{ source: path.resolve(deployDir, source), target }] : [];
  });
}

describe('deploy/compose.yaml', () => {
  test('has the services the deployment needs', () => {
    assert.ok(services.redis, 'redis');
    assert.ok(services.balancer, 'balancer');
    assert.ok(Object.values(services).some(isLockd), 'baton-lockd');
    assert.ok(sidecars.length >= 2, `two baton sidecars, found ${sidecars.map(([n]) => n).join(', ')}`);
  });

  test('every file it names exists: build contexts, Dockerfiles, mounted files', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build) {
        const build = typeof service.build === 'string' ? { context: service.build } : service.build;
        const context = path.resolve(deployDir, build.context ?? '.');
        assert.ok(existsSync(context), `${name}: build context ${build.context} does not exist`);
        const dockerfile = path.resolve(context, build.dockerfile ?? 'Dockerfile');
        assert.ok(existsSync(dockerfile), `${name}: Dockerfile ${path.relative(root, dockerfile)} does not exist`);
      }
      for (const mount of bindMounts(service)) {
        assert.ok(existsSync(mount.source), `${name}: mounted ${path.relative(root, mount.source)} does not exist`);
      }
      for (const envFile of [service.env_file ?? []].flat()) {
        assert.ok(existsSync(path.resolve(deployDir, envFile)), `${name}: env_file ${envFile} does not exist`);
      }
    }
  });

  test('each baton sidecar shares the network namespace of an engine, one per engine', () => {
    const owners = new Set();
    for (const [name, service] of sidecars) {
      const match = /^service:(.+)$/.exec(service.network_mode ?? '');
      assert.ok(match, `${name}: network_mode is ${service.network_mode}, not service:<engine>`);
      const engine = services[match[1]];
      assert.ok(engine, `${name}: network_mode names ${match[1]}, not a service`);
      assert.ok(!isBaton(engine), `${name}: joins ${match[1]}, which is not an engine`);
      assert.ok(!owners.has(match[1]), `${match[1]} has two sidecars`);
      owners.add(match[1]);
      assert.equal(service.ports, undefined, `${name}: a container in another's network namespace cannot publish ports`);
      const dependsOn = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
      assert.ok(dependsOn.includes(match[1]), `${name}: does not depend on ${match[1]}`);
      assert.equal(engine.environment?.HOST, '127.0.0.1', `${match[1]}: listens beyond its loopback, around its baton`);
    }
  });

  test('published ports (the admin ports above all) are bound to the host\'s 127.0.0.1 only', () => {
    const adminTargets = new Set([9901, 9910]);
    let admins = 0;
    for (const [name, service] of Object.entries(services)) {
      for (const port of publishedPorts(service)) {
        if (adminTargets.has(port.target)) admins += 1;
        assert.equal(port.hostIp, '127.0.0.1', `${name}: port ${port.target} is published on ${port.hostIp ?? 'every address'}`);
      }
    }
    assert.ok(admins >= sidecars.length + 1, 'every baton\'s admin port and baton-lockd\'s are published');
  });

  test('the mounted configurations pass --check with the environment compose gives them', () => {
    for (const [name, service] of Object.entries(services).filter(([, s]) => isBaton(s))) {
      const command = [service.command ?? ['--config', '/etc/baton/baton.yaml']].flat();
      const inContainer = command[command.indexOf('--config') + 1];
      const mount = bindMounts(service).find((m) => m.target === inContainer);
      assert.ok(mount, `${name}: nothing is mounted at ${inContainer}`);
      const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(v)]));
      const result = checkConfig(isLockd(service) ? 'baton-lockd' : 'baton-proxy', mount.source, env);
      assert.ok(result.ok, `${name}: ${result.output}`);
    }
  });

  test('stop_grace_period of the batons is longer than their drain_timeout', () => {
    for (const [name, service] of Object.entries(services).filter(([, s]) => isBaton(s))) {
      const config = bindMounts(service).find((m) => m.target.startsWith('/etc/baton/'));
      const drain = /^drain_timeout:\s*(\d+)s/m.exec(readText(config.source))?.[1] ?? '30';
      const grace = /^(\d+)s$/.exec(service.stop_grace_period ?? '10s')?.[1];
      assert.ok(Number(grace) > Number(drain), `${name}: stop_grace_period ${service.stop_grace_period ?? '10s'} <= drain_timeout ${drain}s`);
    }
  });

  test('the balancer round-robins over the batons, and its nginx.conf is valid', (t) => {
    const mount = bindMounts(services.balancer).find((m) => m.target === '/etc/nginx/nginx.conf');
    assert.ok(mount, 'nginx.conf is mounted');
    const conf = readText(mount.source);
    const servers = [...conf.matchAll(/^\s*server\s+([\w.-]+):(\d+)\s*;/gm)].map((m) => ({ host: m[1], port: Number(m[2]) }));
    const engines = sidecars.map(([, s]) => s.network_mode.slice('service:'.length));
    assert.deepEqual(servers.map((s) => s.host).sort(), engines.sort(), 'the upstream servers are the sidecars\' network namespaces');
    for (const server of servers) assert.equal(server.port, 8080, `${server.host}: not baton's listen port`);
    assert.ok(!/^\s*(least_conn|ip_hash|hash)\b/m.test(conf), 'round robin: no other balancing method');

    const nginx = which('nginx', ['/usr/sbin/nginx']);
    if (!nginx) {
      t.diagnostic('nginx not installed: nginx.conf was not checked with nginx -t');
      return;
    }
    // nginx -t with the compose service names pointed at loopback (no Docker DNS here),
    // and the error log in a file (a child's stderr here is a socket, which nginx cannot
    // open as /dev/stderr; Docker gives it a pipe).
    withTempDir((dir) => {
      mkdirSync(path.join(dir, 'logs'));
      const local = conf
        .replace(/^(\s*server\s+)[\w.-]+(:\d+\s*;)/gm, '$1127.0.0.1$2')
        .replaceAll('/dev/stderr', path.join(dir, 'logs', 'error.log'));
      writeFileSync(path.join(dir, 'nginx.conf'), local);
      const result = spawnSync(nginx, ['-t', '-q', '-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', `pid ${dir}/nginx.pid;`], { encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
    });
  });

  test('docker compose config accepts it, where the compose plugin exists', (t) => {
    const docker = which('docker');
    const plugin = docker && spawnSync(docker, ['compose', 'version'], { encoding: 'utf8' }).status === 0;
    if (!plugin) {
      t.diagnostic('docker compose is not installed: the file was checked by the tests above only');
      return;
    }
    const result = spawnSync(docker, ['compose', '-f', composeFile, 'config', '--quiet'], {
      encoding: 'utf8',
      env: { ...process.env, BATON_ADMIN_TOKEN: 'CHANGE-ME-placeholder' },
    });
    assert.equal(result.status, 0, result.stderr);
  });
});
