// Helpers of the deployment tests (tests/deploy/*.test.mjs): paths, YAML, baton's
// --check with placeholder environments, and the Kubernetes schema checks.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const binDir = process.env.BATON_BIN_DIR || path.join(root, 'build', 'bin');

export const rel = (file) => path.relative(root, file);

export function readText(file) {
  return readFileSync(file, 'utf8');
}

// Every document of a YAML stream, as plain objects; throws on any YAML error.
export function parseYamlDocuments(text, where, options = {}) {
  const docs = YAML.parseAllDocuments(text, options);
  const out = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`${where}: ${doc.errors[0].message}`);
    const value = doc.toJS({ maxAliasCount: 100 });
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

export function parseYaml(text, where, options = {}) {
  const docs = parseYamlDocuments(text, where, options);
  if (docs.length !== 1) throw new Error(`${where}: expected one YAML document, found ${docs.length}`);
  return docs[0];
}

// Files under `dir` (recursively, skipping node_modules) whose name matches `pattern`.
export function findFiles(dir, pattern) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') found.push(...findFiles(full, pattern));
    } else if (pattern.test(entry.name)) {
      found.push(full);
    }
  }
  return found.sort();
}

export function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

// Where a command is on the PATH (or at one of `extra`), or null.
export function which(command, extra = []) {
  for (const dir of (process.env.PATH || '').split(':').filter(Boolean)) {
    const candidate = path.join(dir, command);
    if (isExecutable(candidate)) return candidate;
  }
  return extra.find(isExecutable) ?? null;
}

export function withTempDir(fn) {
  const dir = mkdtempSync(path.join(tmpdir(), 'baton-deploy-test-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------
// baton's configuration files

// The variables a baton configuration needs from the environment: every ${NAME}
// without a default (those with `:-` fall back by themselves).
export function requiredVariables(configText) {
  const names = new Set();
  const text = configText.replace(/\$\$/g, '');
  for (const match of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g)) {
    if (match[2] === undefined) names.add(match[1]);
  }
  return [...names];
}

// A placeholder of the right shape for a variable, by its name.
export function placeholderFor(name) {
  if (/_URL$/.test(name)) return 'redis://:CHANGE-ME@redis.invalid:6379/0';
  return 'CHANGE-ME-placeholder';
}

// Runs `binary --check --config file` in an environment made only of PATH and `env`;
// returns { ok, output }.
export function checkConfig(binary, file, env = {}) {
  const result = spawnSync(path.join(binDir, binary), ['--check', '--config', file], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (result.error) throw result.error;
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}`.trim() };
}

// Checks a configuration given as text (written to a temporary file of the same name).
export function checkConfigText(binary, name, text, env = {}) {
  return withTempDir((dir) => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return checkConfig(binary, file, env);
  });
}

// The binary a configuration file is for, by its name: lockd*.yaml for baton-lockd,
// baton*.yaml for baton-proxy.
export function binaryForConfig(file) {
  const name = path.basename(file);
  if (/^lockd.*\.ya?ml$/.test(name)) return 'baton-lockd';
  if (/^baton.*\.ya?ml$/.test(name)) return 'baton-proxy';
  return null;
}

// A duration as baton writes them (250ms, 30s, 1m30s), in seconds.
export function durationSeconds(text) {
  const units = { h: 3600, m: 60, s: 1, ms: 0.001 };
  const parts = [...String(text).matchAll(/(\d+)(ms|h|m|s)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== String(text)) {
    throw new Error(`not a duration: ${text}`);
  }
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * units[unit], 0);
}

// host:port -> port number.
export function portOf(address) {
  const match = /:(\d+)$/.exec(String(address));
  if (!match) throw new Error(`no port in ${address}`);
  return Number(match[1]);
}

export function run(command, args, options = {}) {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

export { existsSync, path, YAML };
