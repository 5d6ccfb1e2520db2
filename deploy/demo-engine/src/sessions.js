'use strict';
// Per-session state, written the way many single-process apps write it, bugs included:
//
// - the state lives in Redis, but each process keeps its own copy in memory and serves
//   that copy on later requests (fast, and stale as soon as another replica writes);
// - a per-session mutex (a promise chain) orders the requests of a session, but only
//   inside this process;
// - each request reads the state, works for a while, then writes it back whole
//   (read-modify-write), so two replicas working on one session lose updates.
//
// What baton gives the engine fixes this without touching the code above: one request of
// a session at a time across replicas, and `Cache-Control: no-cache`, on which the engine
// reloads its copy from Redis. `Baton-Fence` is checked only when FENCE_CHECK=1.

const Redis = require('ioredis');

const KEY_PREFIX = 'demo:session:';

function emptyState() {
  return { counter: 0, answers: [], fence: 0 };
}

class SessionStore {
  constructor({ redisUrl, fenceCheck, instance }) {
    this.redisUrl = redisUrl;
    this.fenceCheck = fenceCheck;
    this.instance = instance;
    this.redis = null;
    this.cache = new Map();   // session -> state (this process's copy)
    this.locks = new Map();   // session -> tail of its promise chain
    this.active = new Map();  // session -> requests of it running now in this process
    this.stats = { requests: 0, overlaps: 0, reloads: 0, cacheHits: 0, fenceRejects: 0 };
  }

  client() {
    if (!this.redis) {
      // Created on first use, so the routes that need no state work without Redis.
      this.redis = new Redis(this.redisUrl, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
      this.redis.on('error', () => {});  // reported through the failing commands
    }
    return this.redis;
  }

  async readStored(session) {
    const raw = await this.client().get(KEY_PREFIX + session);
    return raw ? { ...emptyState(), ...JSON.parse(raw) } : emptyState();
  }

  // The state as this request sees it: this process's copy unless there is none or the
  // request asked for a fresh one (Cache-Control: no-cache).
  async load(session, fresh) {
    const cached = this.cache.get(session);
    if (cached && !fresh) {
      this.stats.cacheHits += 1;
      return structuredClone(cached);
    }
    this.stats.reloads += 1;
    const state = await this.readStored(session);
    this.cache.set(session, structuredClone(state));
    return state;
  }

  async save(session, state) {
    await this.client().set(KEY_PREFIX + session, JSON.stringify(state));
    this.cache.set(session, structuredClone(state));
  }

  // Runs fn(state) -> state under this process's lock of the session, and writes the
  // result back. `fence` is the request's Baton-Fence (a number) or null.
  async update(session, { fresh, fence }, fn) {
    this.stats.requests += 1;
    const running = this.active.get(session) ?? 0;
    // Overlap: another request of this session is already in this process.
    if (running > 0) this.stats.overlaps += 1;
    this.active.set(session, running + 1);
    try {
      return await this.withLock(session, async () => {
        const state = await this.load(session, fresh);
        if (this.fenceCheck && fence !== null && fence < state.fence) {
          this.stats.fenceRejects += 1;
          const err = new Error(`stale fence ${fence} (state written under fence ${state.fence})`);
          err.status = 409;
          throw err;
        }
        const next = await fn(state);
        if (fence !== null && fence > next.fence) next.fence = fence;
        await this.save(session, next);
        return next;
      });
    } finally {
      const left = this.active.get(session) - 1;
      if (left > 0) this.active.set(session, left);
      else this.active.delete(session);
    }
  }

  withLock(session, fn) {
    const previous = this.locks.get(session) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => {});
    this.locks.set(session, tail);
    tail.then(() => {
      if (this.locks.get(session) === tail) this.locks.delete(session);
    });
    return run;
  }

  close() {
    if (this.redis) this.redis.disconnect();
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

module.exports = { SessionStore, sleep };
