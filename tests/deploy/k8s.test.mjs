// k8s/: the base and every overlay render with `kubectl kustomize` (offline), every
// object validates against the Kubernetes API schemas, and the pods have the properties
// docs/deploy.md promises (k8s-checks.mjs). Without kubectl, every YAML file under k8s/
// is parsed instead, and the output says so. KUBECTL=/path/to/kubectl picks one;
// KUBECTL= (empty) acts as if there were none.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, test, before } from 'node:test';
import { propertyProblems, schemaProblems, unknownFieldProblems } from './k8s-checks.mjs';
import { findFiles, parseYamlDocuments, path, readText, rel, root, run, which } from './lib.mjs';

const k8sDir = path.join(root, 'k8s');
const kubectl = process.env.KUBECTL !== undefined ? process.env.KUBECTL || null : which('kubectl', ['/usr/bin/kubectl']);
const targets = ['base', ...readdirSync(path.join(k8sDir, 'overlays')).sort().map((name) => `overlays/${name}`)];

function render(target) {
  const output = run(kubectl, ['kustomize', path.join(k8sDir, target)], { maxBuffer: 16 << 20 });
  return parseYamlDocuments(output, `kubectl kustomize k8s/${target}`);
}

test('every YAML file under k8s/ parses', () => {
  const files = findFiles(k8sDir, /\.ya?ml$/);
  assert.ok(files.length > 5, `only ${files.length} YAML files under k8s/`);
  for (const file of files) parseYamlDocuments(readText(file), rel(file));
});

test('the overlays the docs name exist', () => {
  for (const overlay of ['overlays/dev', 'overlays/external-redis']) assert.ok(targets.includes(overlay), overlay);
});

test('secret env files hold placeholders only', () => {
  for (const file of findFiles(k8sDir, /\.env$/)) {
    for (const line of readText(file).split('\n')) {
      if (!line.trim() || line.startsWith('#')) continue;
      const value = line.slice(line.indexOf('=') + 1);
      assert.match(value, /^CHANGE-ME/, `${rel(file)}: ${line.slice(0, line.indexOf('='))} is not a CHANGE-ME placeholder`);
    }
  }
});

if (!kubectl) {
  test('kubectl is not installed: the overlays were not rendered, only parsed', (t) => {
    const note = 'kubectl not found: k8s/ was only parsed as YAML, not rendered with Kustomize nor checked against the API schemas';
    console.log(note);
    t.diagnostic(note);
  });
} else {
  for (const target of targets) {
    describe(`kubectl kustomize k8s/${target}`, () => {
      let docs;
      before(() => {
        docs = render(target);
      });

      test('renders', () => {
        assert.ok(docs.length > 0);
        const kinds = new Set(docs.map((d) => d.kind));
        for (const kind of ['Deployment', 'Service', 'ConfigMap', 'PodDisruptionBudget', 'NetworkPolicy']) {
          assert.ok(kinds.has(kind), `no ${kind}`);
        }
      });

      test('every object validates against the Kubernetes API schemas', async () => {
        assert.deepEqual(await schemaProblems(docs), []);
      });

      test('no field unknown to the API', () => {
        assert.deepEqual(unknownFieldProblems(docs), []);
      });

      test('the pods, Services, policies and Secrets have the promised properties', () => {
        assert.deepEqual(propertyProblems(docs), []);
      });
    });
  }

  // The checks catch what they claim to: each breakage of a good render is reported.
  describe('the checks fail on broken manifests', () => {
    let good;
    before(() => {
      good = render('overlays/dev');
    });

    const broken = (mutate) => {
      const docs = structuredClone(good);
      mutate(docs);
      return docs;
    };
    const find = (docs, kind, name) => docs.find((d) => d.kind === kind && (!name || d.metadata.name.startsWith(name)));
    const pod = (docs) => find(docs, 'Deployment', 'baton-demo').spec.template.spec;
    const baton = (docs) => pod(docs).initContainers.find((c) => c.name === 'baton');
    const app = (docs) => pod(docs).containers.find((c) => c.name === 'app');

    const cases = [
      ['baton as a run-once init container', /restartPolicy/, (d) => { delete baton(d).restartPolicy; }],
      ['a grace period below the drain', /terminationGracePeriodSeconds/, (d) => { pod(d).terminationGracePeriodSeconds = 30; }],
      ['a Service to the app\'s port', /targetPort 3000.*app's port/, (d) => { find(d, 'Service', 'baton-demo').spec.ports[0].targetPort = 3000; }],
      ['a writable root file system', /app: readOnlyRootFilesystem/, (d) => { delete app(d).securityContext.readOnlyRootFilesystem; }],
      ['privilege escalation', /allowPrivilegeEscalation/, (d) => { baton(d).securityContext.allowPrivilegeEscalation = true; }],
      ['running as root', /runAsNonRoot|runAsUser is 0/, (d) => { baton(d).securityContext.runAsUser = 0; }],
      ['no limits', /resources.limits.memory/, (d) => { delete baton(d).resources.limits.memory; }],
      ['no readiness on /readyz', /readinessProbe/, (d) => { baton(d).readinessProbe.exec.command[1] = '/healthz'; }],
      ['a real-looking Secret value', /real-looking/, (d) => { find(d, 'Secret').data['admin-token'] = Buffer.from('hunter2').toString('base64'); }],
      ['the admin port open to all', /admits the admin port/, (d) => { delete find(d, 'NetworkPolicy', 'baton-demo').spec.ingress[0].ports; }],
      ['Redis open to other namespaces', /Redis/, (d) => { find(d, 'NetworkPolicy', 'redis').spec.ingress[0].from = [{ namespaceSelector: {} }]; }],
      ['$(VAR) before its definition', /not defined before it/, (d) => { const env = baton(d).env; env.unshift(...env.splice(env.findIndex((e) => e.name === 'BATON_REDIS_URL'), 1)); }],
      ['a baton.yaml that baton refuses', /--check refuses/, (d) => { const map = find(d, 'ConfigMap', 'baton-config'); map.data['baton.yaml'] += '\nlease_typo: 1\n'; }],
    ];
    for (const [what, expected, mutate] of cases) {
      test(what, () => {
        const problems = propertyProblems(broken(mutate));
        assert.ok(problems.some((p) => expected.test(p)), `expected a problem matching ${expected}, got:\n${problems.join('\n') || '(none)'}`);
      });
    }

    test('a misspelt field', () => {
      const problems = unknownFieldProblems(broken((d) => { baton(d).readinesProbe = baton(d).readinessProbe; }));
      assert.ok(problems.some((p) => /readinesProbe: unknown field/.test(p)), problems.join('\n'));
    });

    test('a value of the wrong type', async () => {
      const problems = await schemaProblems(broken((d) => { baton(d).ports[0].containerPort = '8080'; }));
      assert.ok(problems.some((p) => /containerPort must be integer/.test(p)), problems.join('\n'));
    });
  });
}
