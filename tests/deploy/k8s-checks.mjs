// Checks of rendered Kubernetes objects (the output of `kubectl kustomize`): the API
// schemas, offline, and the properties docs/deploy.md promises. Each check returns a list
// of problems (strings); empty means it passed. k8s.test.mjs runs them on every overlay,
// and on broken copies to show that they catch what they claim to.
import * as k8sClient from '@kubernetes/client-node';
import { checkConfigText, durationSeconds, portOf, YAML } from './lib.mjs';

const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);
const nameOf = (obj) => `${obj.kind}/${obj.metadata?.name}`;

// --- schemas --------------------------------------------------------------------------

// The kubernetes-models module holding the models of an apiVersion.
function modelModule(apiVersion) {
  if (apiVersion.includes('monitoring.coreos.com')) return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

// Types, formats, required fields and enums, by the kubernetes-models validators (the
// JSON schemas of the Kubernetes OpenAPI document, and of the prometheus-operator CRDs).
export async function schemaProblems(docs) {
  const problems = [];
  for (const obj of docs) {
    let Model;
    try {
      Model = (await import(modelModule(obj.apiVersion)))[obj.kind];
    } catch {
      Model = undefined;
    }
    if (!Model) {
      problems.push(`${nameOf(obj)}: no schema known for ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
    } catch (error) {
      problems.push(`${nameOf(obj)}: ${error.message}`);
    }
  }
  return problems;
}

// Fields the API does not know (a typo such as `readinesProbe`), which those JSON schemas
// let through and `kubectl apply` refuses: walked with the field lists of the official
// client's models. Built-in kinds only; custom resources are left to schemaProblems.
export function unknownFieldProblems(docs) {
  const problems = [];
  const walk = (value, type, at) => {
    if (value === null || value === undefined) return;
    let match;
    if ((match = /^Array<(.+)>$/.exec(type))) {
      if (Array.isArray(value)) value.forEach((item, i) => walk(item, match[1], `${at}[${i}]`));
      return;
    }
    if ((match = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
      if (isObject(value)) for (const [key, item] of Object.entries(value)) walk(item, match[1], `${at}.${key}`);
      return;
    }
    const model = k8sClient[type];
    if (!model || typeof model.getAttributeTypeMap !== 'function' || !isObject(value)) return;
    const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
    for (const [key, item] of Object.entries(value)) {
      if (!fields.has(key)) problems.push(`${at}.${key}: unknown field (not in ${type})`);
      else walk(item, fields.get(key), `${at}.${key}`);
    }
  };
  for (const obj of docs) {
    if (!/^(v1|[a-z0-9.]*k8s\.io\/v1|apps\/v1|policy\/v1|batch\/v1|autoscaling\/v2)$/.test(obj.apiVersion)) continue;
    const version = obj.apiVersion.split('/').pop();
    const type = `${version[0].toUpperCase()}${version.slice(1)}${obj.kind}`;
    if (!k8sClient[type]) {
      problems.push(`${nameOf(obj)}: no field list for ${type}`);
      continue;
    }
    walk(obj, type, nameOf(obj));
  }
  return problems;
}

// --- properties -----------------------------------------------------------------------

const selects = (selector, labels) =>
  isObject(selector) && Object.entries(selector).every(([key, value]) => labels?.[key] === value);

const isBatonImage = (image) => /(^|\/)baton(:|@|$)/.test(image ?? '');

function probePath(probe) {
  if (!probe) return null;
  if (probe.httpGet) return probe.httpGet.path ?? '/';
  return (probe.exec?.command ?? []).find((arg) => /^\/[a-z]+$/.test(arg)) ?? null;
}

// Seconds a container's preStop hook sleeps (`sleep` action or an exec of sleep).
function preStopSeconds(container) {
  const hook = container.lifecycle?.preStop;
  if (!hook) return 0;
  if (hook.sleep) return Number(hook.sleep.seconds);
  const command = (hook.exec?.command ?? []).join(' ');
  const match = /(?:^|\s|;|&)sleep\s+(\d+)/.exec(command);
  return match ? Number(match[1]) : 0;
}

// The environment a container gets, with placeholders for Secret values and the
// downward API, and $(VAR) expanded as the kubelet does (from earlier variables only).
function containerEnv(container, docs, problems, where) {
  const env = {};
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined) {
      env[entry.name] = String(entry.value).replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name) => {
        if (whole === '$$') return '$';
        if (!(name in env)) {
          problems.push(`${where}: env ${entry.name} uses $(${name}), which is not defined before it: the kubelet leaves it unexpanded`);
          return whole;
        }
        return env[name];
      });
    } else if (entry.valueFrom?.secretKeyRef) {
      env[entry.name] = 'CHANGE-ME-placeholder';
    } else if (entry.valueFrom?.configMapKeyRef) {
      const ref = entry.valueFrom.configMapKeyRef;
      const map = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === ref.name);
      env[entry.name] = map?.data?.[ref.key] ?? 'placeholder';
    } else if (entry.valueFrom?.fieldRef) {
      env[entry.name] = 'pod-0';
    } else if (entry.valueFrom?.resourceFieldRef) {
      env[entry.name] = '1';
    }
  }
  return env;
}

function containerProblems(pod, container, where) {
  const problems = [];
  const sc = container.securityContext ?? {};
  const podSc = pod.securityContext ?? {};
  if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) problems.push(`${where}: runAsNonRoot is not true`);
  if ((sc.runAsUser ?? podSc.runAsUser) === 0) problems.push(`${where}: runAsUser is 0`);
  if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem is not true`);
  if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
  if (sc.privileged === true) problems.push(`${where}: privileged`);
  if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${where}: capabilities.drop lacks ALL`);
  if (sc.capabilities?.add?.length) problems.push(`${where}: adds capabilities ${sc.capabilities.add.join(', ')}`);
  const seccomp = (sc.seccompProfile ?? podSc.seccompProfile)?.type;
  if (!['RuntimeDefault', 'Localhost'].includes(seccomp)) problems.push(`${where}: seccompProfile is ${seccomp ?? 'unset'}, not RuntimeDefault`);
  for (const kind of ['requests', 'limits']) {
    for (const resource of ['cpu', 'memory']) {
      if (!container.resources?.[kind]?.[resource]) problems.push(`${where}: no resources.${kind}.${resource}`);
    }
  }
  if (!/(:[^/]+|@sha256:[0-9a-f]+)$/.test(container.image ?? '') || /:latest$/.test(container.image)) {
    problems.push(`${where}: image ${container.image} has no fixed tag`);
  }
  return problems;
}

// Whether a NetworkPolicy ingress rule admits `port` (a rule without ports admits all).
const admitsPort = (rule, port, names = []) =>
  !rule.ports?.length || rule.ports.some((p) => p.port === undefined || p.port === port || names.includes(p.port));

// A peer that names particular pods in a particular namespace.
const isNarrowPeer = (peer) =>
  !peer.ipBlock && Object.keys(peer.namespaceSelector?.matchLabels ?? {}).length > 0 &&
  Object.keys(peer.podSelector?.matchLabels ?? {}).length > 0;

// Options: checkConfig (default true) runs baton-proxy --check on the ConfigMap's file.
export function propertyProblems(docs, { checkConfig = true } = {}) {
  const problems = [];
  const workloads = docs.filter((d) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(d.kind));
  const services = docs.filter((d) => d.kind === 'Service');
  const policies = docs.filter((d) => d.kind === 'NetworkPolicy');
  const monitors = docs.filter((d) => d.kind === 'ServiceMonitor');

  for (const workload of workloads) {
    const pod = workload.spec.template.spec;
    for (const container of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
      problems.push(...containerProblems(pod, container, `${nameOf(workload)} container ${container.name}`));
      containerEnv(container, docs, problems, `${nameOf(workload)} container ${container.name}`);
    }
  }

  const batonWorkloads = workloads.filter((w) =>
    [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers].some((c) => isBatonImage(c.image)));
  if (!batonWorkloads.length) problems.push('no workload runs the baton image');

  for (const workload of batonWorkloads) {
    const where = nameOf(workload);
    const pod = workload.spec.template.spec;
    const labels = workload.spec.template.metadata?.labels ?? {};
    const baton = (pod.initContainers ?? []).find((c) => isBatonImage(c.image));
    if (!baton) {
      problems.push(`${where}: baton is not a native sidecar (an initContainer with restartPolicy: Always)`);
      continue;
    }
    if (baton.restartPolicy !== 'Always') problems.push(`${where}: the baton initContainer's restartPolicy is ${baton.restartPolicy ?? 'unset'}, not Always: it would block the app as a run-once init container`);
    if (!pod.containers.some((c) => !isBatonImage(c.image))) problems.push(`${where}: no app container beside baton`);
    if (probePath(baton.readinessProbe) !== '/readyz') problems.push(`${where}: baton's readinessProbe does not ask /readyz`);
    if (probePath(baton.livenessProbe) !== '/healthz') problems.push(`${where}: baton's livenessProbe does not ask /healthz`);

    // The configuration: --config names a file in a mounted ConfigMap.
    const args = [...(baton.command ?? []), ...(baton.args ?? [])];
    const configPath = args[args.indexOf('--config') + 1];
    if (!args.includes('--config') || !configPath) {
      problems.push(`${where}: baton has no --config`);
      continue;
    }
    const mount = (baton.volumeMounts ?? []).find((m) => configPath.startsWith(`${m.mountPath.replace(/\/$/, '')}/`));
    const volume = (pod.volumes ?? []).find((v) => v.name === mount?.name);
    const configMap = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === volume?.configMap?.name);
    const key = configPath.slice(mount ? mount.mountPath.replace(/\/$/, '').length + 1 : 0);
    const configText = configMap?.data?.[key];
    if (!configText) {
      problems.push(`${where}: ${configPath} is not a key of a ConfigMap in the render (volume ${volume?.name ?? 'none'})`);
      continue;
    }
    let config;
    try {
      config = YAML.parse(configText) ?? {};
    } catch (error) {
      problems.push(`${where}: ${nameOf(configMap)} ${key} does not parse: ${error.message}`);
      continue;
    }
    if (checkConfig) {
      const env = containerEnv(baton, docs, [], where);
      const result = checkConfigText('baton-proxy', key, configText, env);
      if (!result.ok) problems.push(`${where}: baton-proxy --check refuses ${nameOf(configMap)} ${key} with the pod's environment: ${result.output}`);
    }
    const expand = (value) => String(value).replace(/\$\{[^}:]+:-([^}]*)\}/g, '$1');
    const listenPort = portOf(expand(config.listen ?? '0.0.0.0:8080'));
    const adminAddress = expand(config.admin?.listen ?? '127.0.0.1:9901');
    const adminPort = portOf(adminAddress);
    const appPorts = new Set([
      Number(new URL(expand(config.upstream?.url ?? 'http://127.0.0.1:3000')).port || 80),
      ...pod.containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)),
    ]);

    // Shutdown: the grace period covers the app's preStop and then baton's drain.
    const drain = durationSeconds(expand(config.drain_timeout ?? '30s'));
    const preStop = Math.max(0, ...pod.containers.map(preStopSeconds));
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    if (!(grace > drain + preStop)) {
      problems.push(`${where}: terminationGracePeriodSeconds ${grace} is not above the app's preStop (${preStop}s) plus drain_timeout (${drain}s)`);
    }

    // Services in front of these pods target baton's ports, never the app's.
    const portNumber = (target) => {
      if (typeof target === 'number') return target;
      const named = [...(pod.initContainers ?? []), ...pod.containers].flatMap((c) => c.ports ?? []).find((p) => p.name === target);
      return named?.containerPort ?? target;
    };
    const fronting = services.filter((s) => selects(s.spec.selector, labels));
    if (!fronting.some((s) => s.spec.ports.some((p) => portNumber(p.targetPort ?? p.port) === listenPort))) {
      problems.push(`${where}: no Service targets baton's listen port ${listenPort}`);
    }
    for (const service of fronting) {
      for (const port of service.spec.ports) {
        const target = portNumber(port.targetPort ?? port.port);
        if (target !== listenPort && target !== adminPort) {
          problems.push(`${nameOf(service)}: port ${port.name ?? port.port} has targetPort ${target}, not baton's (${listenPort}, or admin ${adminPort})${appPorts.has(target) ? ': the app\'s port, around baton' : ''}`);
        }
      }
    }

    if (!docs.some((d) => d.kind === 'PodDisruptionBudget' && selects(d.spec.selector?.matchLabels, labels))) {
      problems.push(`${where}: no PodDisruptionBudget selects its pods`);
    }

    // NetworkPolicies: ingress is restricted, the admin and app ports are closed to the
    // outside, except the admin port to Prometheus's pods when a ServiceMonitor scrapes.
    const applying = policies.filter((p) => selects(p.spec.podSelector?.matchLabels ?? {}, labels));
    if (!applying.some((p) => (p.spec.policyTypes ?? ['Ingress']).includes('Ingress'))) {
      problems.push(`${where}: no NetworkPolicy restricts ingress to its pods`);
    }
    const adminNames = [...(pod.initContainers ?? []), ...pod.containers].flatMap((c) => c.ports ?? []).filter((p) => p.containerPort === adminPort).map((p) => p.name);
    let scrapeAdmitted = false;
    for (const policy of applying) {
      (policy.spec.ingress ?? []).forEach((rule, i) => {
        const at = `${nameOf(policy)} ingress[${i}]`;
        for (const appPort of appPorts) {
          if (appPort !== listenPort && admitsPort(rule, appPort)) problems.push(`${at}: admits the app's port ${appPort} from outside the pod`);
        }
        if (!admitsPort(rule, adminPort, adminNames)) return;
        const narrow = (rule.from ?? []).length > 0 && rule.from.every(isNarrowPeer);
        if (!monitors.length) problems.push(`${at}: admits the admin port ${adminPort} from outside the pod`);
        else if (!narrow) problems.push(`${at}: admits the admin port ${adminPort} to more than Prometheus's pods (a namespaceSelector and a podSelector)`);
        else scrapeAdmitted = true;
      });
    }
    if (monitors.length) {
      if (!scrapeAdmitted) problems.push(`${where}: a ServiceMonitor scrapes, but no NetworkPolicy admits Prometheus to the admin port`);
      if (/^(127\.|localhost|\[::1\])/.test(adminAddress)) problems.push(`${where}: a ServiceMonitor scrapes, but admin.listen ${adminAddress} is loopback`);
    }
    for (const monitor of monitors) {
      const targets = services.filter((s) => selects(monitor.spec.selector?.matchLabels, s.metadata.labels ?? {}));
      if (!targets.length) problems.push(`${nameOf(monitor)}: selects no Service in the render`);
      for (const endpoint of monitor.spec.endpoints ?? []) {
        for (const service of targets) {
          const port = service.spec.ports.find((p) => p.name === endpoint.port);
          if (!port) problems.push(`${nameOf(monitor)}: ${nameOf(service)} has no port named ${endpoint.port}`);
          else if (portNumber(port.targetPort ?? port.port) !== adminPort) problems.push(`${nameOf(monitor)}: scrapes ${nameOf(service)} port ${endpoint.port}, not baton's admin port`);
        }
        const credentials = endpoint.authorization?.credentials ?? endpoint.bearerTokenSecret;
        if (!credentials?.name || !credentials?.key) problems.push(`${nameOf(monitor)}: no token from a Secret (the admin port wants one off loopback)`);
      }
    }
  }

  // Redis in the render: reachable from this namespace's pods only.
  for (const redis of workloads.filter((w) => /redis/.test(w.metadata.name))) {
    const labels = redis.spec.template.metadata?.labels ?? {};
    const applying = policies.filter((p) => selects(p.spec.podSelector?.matchLabels ?? {}, labels));
    if (!applying.length) problems.push(`${nameOf(redis)}: no NetworkPolicy restricts who reaches Redis`);
    for (const policy of applying) {
      (policy.spec.ingress ?? []).forEach((rule, i) => {
        const peers = rule.from ?? [];
        if (!peers.length || peers.some((peer) => peer.ipBlock || peer.namespaceSelector || !peer.podSelector)) {
          problems.push(`${nameOf(policy)} ingress[${i}]: admits more than the pods of its own namespace to Redis`);
        }
      });
    }
  }

  // Secrets carry placeholders only: real values are never committed.
  for (const secret of docs.filter((d) => d.kind === 'Secret')) {
    const values = {
      ...Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])),
      ...(secret.stringData ?? {}),
    };
    for (const [key, value] of Object.entries(values)) {
      if (!/^CHANGE-ME/.test(value)) problems.push(`${nameOf(secret)}: ${key} has a real-looking value (placeholders start with CHANGE-ME)`);
    }
  }
  return problems;
}
