// A baton in its own network namespace, cut off from Redis by routes. iptables is not
// installed on these machines (and netem is not available), so the cut uses route types
// the kernel has without modules:
//
//   drop:   a `blackhole` route in the root namespace towards the baton's Redis-side
//           address: Redis's packets to that baton vanish (SYN-ACKs, replies, ACKs), while
//           the baton's own packets still leave: from the baton, a silent path, as DROP.
//   reject: a `prohibit` route in the baton's namespace towards Redis (and back): every
//           packet the baton sends to Redis fails at once with EACCES, as an ICMP
//           admin-prohibited REJECT does; a connect fails immediately.
//
// Layout (n = a small number unique to this run):
//   root ns  10.231.n.1/30 <-veth-> 10.231.n.2/30  baton ns   clients and the engine
//   root ns  10.232.n.1/30 <-veth-> 10.232.n.2/30  baton ns   Redis only
// Redis binds 127.0.0.1 and 10.232.n.1; the checker engine 127.0.0.1 and 10.231.n.1.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { atExit } from './procs.mjs';

function ip(args, { ns, quiet = false } = {}) {
  const full = ns ? ['netns', 'exec', ns, 'ip', ...args] : args;
  try {
    return execFileSync('ip', full, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (error) {
    if (quiet) return null;
    throw new Error(`ip ${full.join(' ')}: ${error.stderr?.toString().trim() || error.message}`);
  }
}

// null when namespaces and veth pairs can be made here, else the reason why not.
export function netnsUnavailable() {
  if (process.getuid?.() !== 0) return 'not root';
  const name = `btprobe${process.pid % 100000}`;
  try {
    ip(['netns', 'add', name]);
  } catch (error) {
    return `cannot create a network namespace (${error.message})`;
  }
  try {
    ip(['link', 'add', `${name}a`, 'type', 'veth', 'peer', 'name', `${name}b`]);
    ip(['link', 'del', `${name}a`], { quiet: true });
    ip(['route', 'add', 'blackhole', '10.239.255.254/32'], { ns: name });
    ip(['route', 'add', 'prohibit', '10.239.255.253/32'], { ns: name });
  } catch (error) {
    return `cannot create veth pairs or routes (${error.message})`;
  } finally {
    ip(['netns', 'del', name], { quiet: true });
  }
  return null;
}

export class NetnsBaton {
  constructor() {
    this.n = 1 + (process.pid % 250);
    this.ns = `btfault${process.pid % 100000}`;
    this.appHost = `10.231.${this.n}.1`;
    this.batonHost = `10.231.${this.n}.2`;
    this.redisHost = `10.232.${this.n}.1`;
    this.batonRedisSide = `10.232.${this.n}.2`;
    this.links = [`bta${process.pid % 100000}`, `btr${process.pid % 100000}`];
    this.cut = null;
  }

  // Namespaces and links left by a run that was killed (its pid is gone).
  static removeStale() {
    for (const line of (ip(['netns', 'list'], { quiet: true }) ?? '').split('\n')) {
      const m = line.match(/^btfault(\d+)/);
      if (!m || fs.existsSync(`/proc/${m[1]}`)) continue;
      ip(['netns', 'del', `btfault${m[1]}`], { quiet: true });
      for (const link of [`bta${m[1]}`, `btr${m[1]}`]) ip(['link', 'del', link], { quiet: true });
    }
  }

  setup() {
    NetnsBaton.removeStale();
    this.forget = atExit(() => this.teardown());
    ip(['netns', 'add', this.ns]);
    ip(['link', 'set', 'lo', 'up'], { ns: this.ns });
    const pairs = [[this.links[0], this.appHost, this.batonHost], [this.links[1], this.redisHost, this.batonRedisSide]];
    for (const [link, hostAddr, nsAddr] of pairs) {
      ip(['link', 'add', link, 'type', 'veth', 'peer', 'name', `${link}p`]);
      ip(['link', 'set', `${link}p`, 'netns', this.ns]);
      ip(['addr', 'add', `${hostAddr}/30`, 'dev', link]);
      ip(['link', 'set', link, 'up']);
      ip(['addr', 'add', `${nsAddr}/30`, 'dev', `${link}p`], { ns: this.ns });
      ip(['link', 'set', `${link}p`, 'up'], { ns: this.ns });
    }
    return this;
  }

  // kind: 'drop' | 'reject'
  cutOff(kind) {
    if (this.cut) this.heal();
    if (kind === 'drop') {
      ip(['route', 'add', 'blackhole', `${this.batonRedisSide}/32`]);
    } else {
      ip(['route', 'add', 'prohibit', `${this.redisHost}/32`], { ns: this.ns });
      ip(['route', 'add', 'prohibit', `${this.batonRedisSide}/32`]);
    }
    this.cut = kind;
  }

  heal() {
    if (this.cut === 'drop') {
      ip(['route', 'del', 'blackhole', `${this.batonRedisSide}/32`], { quiet: true });
    } else if (this.cut === 'reject') {
      ip(['route', 'del', 'prohibit', `${this.redisHost}/32`], { ns: this.ns, quiet: true });
      ip(['route', 'del', 'prohibit', `${this.batonRedisSide}/32`], { quiet: true });
    }
    this.cut = null;
  }

  teardown() {
    this.forget?.();
    this.heal();
    ip(['netns', 'del', this.ns], { quiet: true });
    for (const link of this.links) ip(['link', 'del', link], { quiet: true });
  }
}
