#!/usr/bin/env node
// End-to-end harness: a cluster of Socket.IO servers (all in this one Node process) sharing
// one Redis, plus socket.io-client clients, driven over stdin/stdout with JSON lines. The
// servers are npm's symple@2.1.1 (@socket.io/redis-adapter 7.2 inside), or, with SERVER_KIND,
// plain socket.io 4.8 servers with @socket.io/redis-adapter 8 (`classic`, or
// `sharded:<subscriptionMode>`) or @socket.io/redis-streams-adapter (`streams`).
//
// stdout carries ONLY JSON lines (one object per line); every log goes to stderr.
// See README.md in this folder for the full protocol.
'use strict';

// ---------------------------------------------------------------------------
// Output discipline: nothing but JSON lines on stdout.
// symple logs Redis errors with console.log; send all console output to stderr.
// ---------------------------------------------------------------------------
const util = require('util');
const http = require('http');
function log(...args) {
  process.stderr.write('[harness] ' + util.format(...args) + '\n');
}
console.log = (...a) => process.stderr.write(util.format(...a) + '\n');
console.info = console.log;
console.debug = console.log;
console.warn = (...a) => process.stderr.write(util.format(...a) + '\n');

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// Replies carry the command's optional "id" (only when it was given).
function reply(cmd, obj) {
  if (cmd && cmd.id !== undefined) obj.id = cmd.id;
  out(obj);
}

process.on('unhandledRejection', (err) => log('unhandled rejection:', err));
process.on('uncaughtException', (err) => log('uncaught exception:', err));

// symple listens on `process.env.PORT || config.port`.
delete process.env.PORT;

const { io: ioClient } = require('socket.io-client');
const { createClient, createCluster } = require('redis');

const REDIS_URL = process.env.REDIS_URL;
const SERVERS = parseInt(process.argv[2] || process.env.SERVERS || '2', 10);
// symple | classic | sharded:static | sharded:dynamic | sharded:dynamic-private | streams
const SERVER_KIND = process.env.SERVER_KIND || 'symple';
const SHARDED_MODE = SERVER_KIND.startsWith('sharded:') ? SERVER_KIND.slice('sharded:'.length) : null;
const STREAM = 'socket.io'; // the Streams adapter's default stream
// A Redis Cluster, named as symple names it: redis+cluster://[user:pw@]host:port,host:port,...
const CLUSTER = /^rediss?\+cluster:\/\//.test(REDIS_URL || '');

// A node-redis client for REDIS_URL: `createCluster` over the seeds for a cluster URL.
function redisClient() {
  if (!CLUSTER) return createClient({ url: REDIS_URL });
  const rest = REDIS_URL.replace(/^rediss?\+cluster:\/\//, '').replace(/[/?].*$/, '');
  const at = rest.lastIndexOf('@');
  const [user, pass] = at < 0 ? [] : rest.slice(0, at).split(':').map(decodeURIComponent);
  const hosts = rest.slice(at + 1).split(',');
  const defaults = {};
  if (user) defaults.username = user;
  if (pass) defaults.password = pass;
  return createCluster({ rootNodes: hosts.map((h) => ({ url: 'redis://' + h })), defaults });
}

// A command every node answers for itself (PUBSUB, CLIENT LIST): the answers of all nodes.
async function onEveryNode(args) {
  if (!CLUSTER) return [await ctl.sendCommand(args)];
  const nodes = ctl.masters.concat(ctl.replicas);
  return Promise.all(nodes.map(async (n) => (await ctl.nodeClient(n)).sendCommand(args)));
}

// A command on `key` (routed to its slot's node on a cluster).
function keyed(key, args) {
  return CLUSTER ? ctl.sendCommand(key, false, args) : ctl.sendCommand(args);
}
const READY_TIMEOUT_MS = 30000;
const CONNECT_TIMEOUT_MS = 5000;
const SYNC_TIMEOUT_MS = 5000;
const SHUTDOWN_TIMEOUT_MS = 3000;
const KEY = 'symple';
const REQUEST_CHANNEL = KEY + '-request#/#';
const SYNC_ROOM = '__harness_sync__';

const servers = []; // Symple instances, or { io, server, redis: [clients] } for plain ones
const ports = [];
const clients = new Map(); // name -> { socket, user }
let ctl = null; // control Redis client (sessions, PUBSUB checks)
let shuttingDown = false;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function fatal(message) {
  out({ event: 'fatal', message: String(message) });
  process.exit(1);
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(what + ' timed out after ' + ms + ' ms')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------
// Startup
// ---------------------------------------------------------------------------
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

async function numsub(channel) {
  return sum((await onEveryNode(['PUBSUB', 'NUMSUB', channel])).map((r) => Number(r[1])));
}

async function numpat() {
  return sum((await onEveryNode(['PUBSUB', 'NUMPAT'])).map(Number));
}

async function shardNumsub(channel) {
  return sum((await onEveryNode(['PUBSUB', 'SHARDNUMSUB', channel])).map((r) => Number(r[1])));
}

// Connections blocked in XREAD: the Streams adapters' readers, waiting for entries.
async function xreadBlocked() {
  const lists = await onEveryNode(['CLIENT', 'LIST']);
  return sum(
    lists.map(
      (list) =>
        String(list)
          .split('\n')
          .filter((l) => / cmd=xread /.test(l) && / flags=[A-Za-z]*b/.test(l)).length
    )
  );
}

// What a server is subscribed to, as a number that grows by one per ready server.
function readiness() {
  if (SERVER_KIND === 'symple' || SERVER_KIND === 'classic') return () => numsub(REQUEST_CHANNEL);
  if (SHARDED_MODE) return () => shardNumsub(KEY + '#/#');
  if (SERVER_KIND === 'streams') return xreadBlocked;
  throw new Error('unknown SERVER_KIND ' + JSON.stringify(SERVER_KIND));
}

// A plain socket.io server: the handshake's `auth.user` names the socket's own room, `join` and
// `leave` events move it, and every `message` is acknowledged (the harness's sync).
async function startPlain() {
  const { Server } = require('socket.io');
  const server = http.createServer();
  server.listen({ port: 0, host: '127.0.0.1' });
  const pub = redisClient();
  pub.on('error', (err) => log('server redis error:', err.message));
  await pub.connect();
  const redis = [pub];
  let adapter;
  const opts = {};
  if (SERVER_KIND === 'streams') {
    adapter = require('@socket.io/redis-streams-adapter').createAdapter(pub);
    // The adapter's promise: a client that comes back gets what it missed.
    opts.connectionStateRecovery = { maxDisconnectionDuration: 60000 };
  } else {
    const sub = pub.duplicate();
    sub.on('error', (err) => log('server redis error:', err.message));
    await sub.connect();
    redis.push(sub);
    const ra = require('@socket.io/redis-adapter');
    adapter = SHARDED_MODE
      ? ra.createShardedAdapter(pub, sub, { channelPrefix: KEY, subscriptionMode: SHARDED_MODE })
      : ra.createAdapter(pub, sub, { key: KEY });
  }
  const io = new Server(server, Object.assign({ adapter }, opts));
  io.on('connection', (socket) => {
    const user = socket.handshake.auth && socket.handshake.auth.user;
    if (user !== undefined && user !== null) socket.join(user);
    socket.on('join', (room) => socket.join(room));
    socket.on('leave', (room) => socket.leave(room));
    socket.on('message', (_data, ack) => {
      if (typeof ack === 'function') ack({ type: 'response', status: 200 });
    });
  });
  return { io, server, redis };
}

// In the sharded adapter's dynamic modes a server subscribes to a room's own channel when the
// room appears, without waiting: wait until Redis counts every such subscription.
async function awaitRoomChannels() {
  if (!SHARDED_MODE || SHARDED_MODE === 'static') return;
  const expected = new Map();
  for (const s of servers) {
    const adapter = s.io.of('/').adapter;
    for (const room of adapter.rooms.keys()) {
      if (!adapter.shouldUseASeparateNamespace(room)) continue;
      const channel = adapter.dynamicChannel(room);
      expected.set(channel, (expected.get(channel) || 0) + 1);
    }
  }
  const deadline = Date.now() + SYNC_TIMEOUT_MS;
  for (const [channel, n] of expected) {
    while ((await shardNumsub(channel)) < n) {
      if (Date.now() >= deadline) throw new Error('no SSUBSCRIBE to ' + channel + ' after ' + SYNC_TIMEOUT_MS + ' ms');
      await sleep(10);
    }
  }
}

async function start() {
  if (!REDIS_URL) fatal('REDIS_URL is required');
  if (!Number.isInteger(SERVERS) || SERVERS < 1) fatal('SERVERS must be a positive integer');
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const remaining = () => Math.max(1, deadline - Date.now());

  if (CLUSTER && SERVER_KIND === 'symple') fatal('symple@2.1.1 (node-redis 4.0) cannot use a Redis Cluster');
  ctl = redisClient();
  ctl.on('error', (err) => log('control redis error:', err.message));
  await withTimeout(ctl.connect(), remaining(), 'connecting to Redis');

  // Subscribers that were already there (e.g. another harness on the same Redis).
  const ready = readiness();
  const baseline = await ready();

  if (SERVER_KIND !== 'symple') {
    for (let i = 0; i < SERVERS; i++) servers.push(await withTimeout(startPlain(), remaining(), 'starting a server'));
    await withTimeout(
      Promise.all(servers.map((s) => (s.server.listening ? null : new Promise((r) => s.server.once('listening', r))))),
      remaining(),
      'waiting for the servers to listen'
    );
    for (const s of servers) ports.push(s.server.address().port);
    while ((await ready()) - baseline < SERVERS) {
      if (Date.now() >= deadline) throw new Error('timed out after ' + READY_TIMEOUT_MS + ' ms waiting for the adapters');
      await sleep(25);
    }
    if (SERVER_KIND === 'streams') {
      // A reader starts at `$` and stays there until it reads an entry, and it re-reads from
      // `$` after each empty 5 s block: an entry added in that instant would be missed. An
      // entry without `nsp` (which every adapter skips) moves every reader past `$` now.
      await keyed(STREAM, ['XADD', STREAM, '*', 'harness', 'ready']);
    }
    log('ready:', SERVER_KIND, 'x', SERVERS);
    out({ event: 'listening', ports });
    return;
  }

  const Symple = require('symple');
  for (let i = 0; i < SERVERS; i++) {
    const s = new Symple({ port: 0, redis: REDIS_URL, authentication: true, dynamicRooms: true });
    // symple's initHTTP() keeps a pre-set server; it would otherwise listen on
    // all interfaces. Same plain http.Server, bound to loopback on a free port.
    s.server = http.createServer();
    s.server.listen({ port: 0, host: '127.0.0.1' });
    s.init();
    servers.push(s);
  }

  // Each HTTP server listening on its own free port.
  await withTimeout(
    Promise.all(
      servers.map(
        (s) =>
          new Promise((resolve, reject) => {
            if (s.server.listening) return resolve();
            s.server.once('listening', resolve);
            s.server.once('error', reject);
          })
      )
    ),
    remaining(),
    'waiting for the servers to listen'
  );
  for (const s of servers) ports.push(s.server.address().port);

  // The Redis adapter is attached asynchronously (after pub/sub connect), and
  // it subscribes asynchronously too: wait for both.
  for (;;) {
    const adaptersReady = servers.every((s) => s.io.of('/').adapter.constructor.name === 'RedisAdapter');
    if (adaptersReady) {
      const subs = await numsub(REQUEST_CHANNEL);
      const pats = await numpat();
      // The adapter sends PSUBSCRIBE symple#/#* before SUBSCRIBE on the same
      // connection, so NUMSUB counting a server implies its pattern is active.
      if (subs - baseline >= SERVERS && pats >= 1) {
        log('ready: NUMSUB', REQUEST_CHANNEL, '=', subs, '(baseline', baseline + '), NUMPAT =', pats);
        break;
      }
    }
    if (Date.now() >= deadline) {
      throw new Error('timed out after ' + READY_TIMEOUT_MS + ' ms waiting for the Redis adapters to subscribe');
    }
    await sleep(25);
  }

  out({ event: 'listening', ports });
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------
function getClient(cmd) {
  const c = clients.get(cmd.name);
  if (!c) throw new Error('no such client: ' + JSON.stringify(cmd.name));
  return c;
}

// Emit the joins/leaves, then a `message` that symple acknowledges: Socket.IO
// handles one socket's events in order, so the ack proves the joins are done.
function syncRooms(c, event, rooms) {
  const socket = c.socket;
  for (const room of rooms) socket.emit(event, room);
  const msg = { type: 'message', from: String(c.user) + '|' + socket.id, to: [SYNC_ROOM], data: {} };
  return new Promise((resolve, reject) => {
    socket.timeout(SYNC_TIMEOUT_MS).emit('message', msg, (err, res) => {
      if (err) reject(new Error(event + ' confirmation timed out after ' + SYNC_TIMEOUT_MS + ' ms'));
      else resolve(res);
    });
  }).then(async (res) => {
    await awaitRoomChannels();
    return res;
  });
}

function asRoomList(v) {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

function cmdConnect(cmd) {
  const name = cmd.name;
  if (typeof name !== 'string' || name === '') throw new Error('connect: "name" (string) is required');
  if (clients.has(name)) throw new Error('connect: a client named ' + JSON.stringify(name) + ' already exists');
  const index = cmd.server === undefined ? 0 : cmd.server;
  if (!Number.isInteger(index) || index < 0 || index >= ports.length) {
    throw new Error('connect: no server with index ' + JSON.stringify(index));
  }
  const auth = cmd.auth !== undefined ? cmd.auth : { user: cmd.user, token: cmd.token };
  const join = asRoomList(cmd.join);

  const socket = ioClient('http://127.0.0.1:' + ports[index], {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: CONNECT_TIMEOUT_MS,
    auth,
  });
  const c = { socket, user: cmd.user !== undefined ? cmd.user : auth && auth.user };
  clients.set(name, c);
  let settled = false;

  socket.on('message', (data) => out({ event: 'message', name, data }));
  // Any other server-sent event (e.g. an emitter test with a custom event name).
  socket.onAny((ev, ...args) => {
    if (ev !== 'message') out({ event: 'other', name, ev, args });
  });
  socket.on('disconnect', (reason) => {
    // A dropped client (see `drop`) stays known, to `reconnect` later.
    if (clients.get(name) === c && !c.dropped) clients.delete(name);
    out({ event: 'disconnect', name, reason });
  });
  socket.on('connect_error', (err) => {
    if (clients.get(name) === c) clients.delete(name);
    socket.close();
    if (!settled) {
      settled = true;
      reply(cmd, { event: 'connect_error', name, message: err && err.message !== undefined ? err.message : String(err) });
    }
  });
  socket.on('connect', () => {
    if (settled) return;
    syncRooms(c, 'join', join).then(
      () => {
        if (settled) return;
        settled = true;
        reply(cmd, { event: 'connected', name, sid: socket.id });
      },
      (err) => {
        if (settled) return;
        settled = true;
        reply(cmd, { event: 'error', name, message: err.message });
      }
    );
  });
}

async function cmdRooms(cmd, event) {
  const c = getClient(cmd);
  await syncRooms(c, event, asRoomList(cmd.rooms));
  reply(cmd, { event: 'ok' });
}

async function cmdSend(cmd) {
  const c = getClient(cmd);
  const event = cmd.event === undefined ? 'message' : cmd.event;
  const res = await new Promise((resolve, reject) => {
    c.socket.timeout(SYNC_TIMEOUT_MS).emit(event, cmd.data, (err, r) => {
      if (err) reject(new Error('send: no acknowledgement after ' + SYNC_TIMEOUT_MS + ' ms'));
      else resolve(r);
    });
  });
  reply(cmd, { event: 'ack', name: cmd.name, data: res === undefined ? null : res });
}

async function handleLine(line) {
  if (line.trim() === '') return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    out({ event: 'error', message: 'invalid JSON: ' + err.message });
    return;
  }
  if (cmd === null || typeof cmd !== 'object' || Array.isArray(cmd)) {
    out({ event: 'error', message: 'a command must be a JSON object' });
    return;
  }
  try {
    switch (cmd.cmd) {
      case 'session': {
        if (cmd.token === undefined || cmd.token === null) throw new Error('session: "token" is required');
        const value = typeof cmd.raw === 'string' ? cmd.raw : JSON.stringify(cmd.value === undefined ? {} : cmd.value);
        await ctl.set('symple:session:' + cmd.token, value);
        reply(cmd, { event: 'ok' });
        break;
      }
      case 'connect':
        cmdConnect(cmd);
        break;
      case 'join':
        await cmdRooms(cmd, 'join');
        break;
      case 'leave':
        await cmdRooms(cmd, 'leave');
        break;
      case 'send':
        await cmdSend(cmd);
        break;
      case 'disconnect': {
        const c = getClient(cmd);
        clients.delete(cmd.name);
        c.socket.disconnect(); // prints {"event":"disconnect",...,"reason":"io client disconnect"}
        reply(cmd, { event: 'ok' });
        break;
      }
      case 'drop': {
        // The connection breaks (as a network would break it): the server keeps the
        // session for connection-state recovery; the client does not reconnect by itself.
        const c = getClient(cmd);
        c.dropped = true;
        const gone = new Promise((resolve) => c.socket.once('disconnect', resolve));
        c.socket.io.engine.close();
        await withTimeout(gone, SYNC_TIMEOUT_MS, 'drop');
        reply(cmd, { event: 'ok' });
        break;
      }
      case 'reconnect': {
        const c = getClient(cmd);
        if (!c.dropped) throw new Error('reconnect: ' + cmd.name + ' was not dropped');
        const back = new Promise((resolve, reject) => {
          c.socket.once('connect', resolve);
          c.socket.once('connect_error', reject);
        });
        c.socket.connect();
        await withTimeout(back, CONNECT_TIMEOUT_MS, 'reconnect');
        c.dropped = false;
        reply(cmd, { event: 'connected', name: cmd.name, sid: c.socket.id, recovered: c.socket.recovered === true });
        break;
      }
      case 'ping':
        reply(cmd, { event: 'pong' });
        break;
      case 'quit':
        reply(cmd, { event: 'ok' });
        shutdown('quit command');
        break;
      default:
        throw new Error('unknown command: ' + JSON.stringify(cmd.cmd));
    }
  } catch (err) {
    reply(cmd, { event: 'error', message: err && err.message !== undefined ? err.message : String(err) });
  }
}

// ---------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------
async function quitRedis(client) {
  if (!client) return;
  try {
    if (client.isOpen) await client.quit();
  } catch (err) {
    try {
      await client.disconnect();
    } catch (_) {
      /* already closed */
    }
  }
}

async function shutdown(why) {
  if (shuttingDown) return;
  shuttingDown = true;
  log('shutting down:', why);
  setTimeout(() => process.exit(0), SHUTDOWN_TIMEOUT_MS);

  for (const [, c] of clients) {
    try {
      c.socket.disconnect();
    } catch (err) {
      log('client close failed:', err.message);
    }
  }
  clients.clear();

  if (SERVER_KIND !== 'symple') {
    for (const s of servers) s.io.close();
    await Promise.all(servers.flatMap((s) => s.redis.map(quitRedis)).concat([quitRedis(ctl)]));
    process.exit(0);
  }
  for (const s of servers) {
    try {
      // symple@2.1.1's shutdown() calls io.close() (async), then
      // this.server.destroy(), which http.Server does not have: it throws
      // before quitting its Redis clients, so quit them below.
      s.shutdown();
    } catch (err) {
      log('symple shutdown() threw:', err.message);
    }
  }
  await Promise.all(
    servers.flatMap((s) => [quitRedis(s.redis), quitRedis(s.pub), quitRedis(s.sub)]).concat([quitRedis(ctl)])
  );
  process.exit(0);
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------
start().then(
  () => {
    // Commands are handled one at a time, in order.
    const readline = require('readline');
    const rl = readline.createInterface({ input: process.stdin, terminal: false });
    let chain = Promise.resolve();
    rl.on('line', (line) => {
      chain = chain.then(() => (shuttingDown ? undefined : handleLine(line))).catch((err) => log('command failed:', err));
    });
    rl.on('close', () => {
      chain.then(() => shutdown('stdin EOF'));
    });
  },
  (err) => fatal(err && err.message !== undefined ? err.message : String(err))
);
