#!/usr/bin/env node
// End-to-end harness: a cluster of npm's symple@2.1.1 servers (all in this one
// Node process) sharing one Redis through @socket.io/redis-adapter, plus
// socket.io-client clients, driven over stdin/stdout with JSON lines.
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

const Symple = require('symple');
const { io: ioClient } = require('socket.io-client');
const { createClient } = require('redis');

const REDIS_URL = process.env.REDIS_URL;
const SERVERS = parseInt(process.argv[2] || process.env.SERVERS || '2', 10);
const READY_TIMEOUT_MS = 10000;
const CONNECT_TIMEOUT_MS = 5000;
const SYNC_TIMEOUT_MS = 5000;
const SHUTDOWN_TIMEOUT_MS = 3000;
const KEY = 'symple';
const REQUEST_CHANNEL = KEY + '-request#/#';
const SYNC_ROOM = '__harness_sync__';

const servers = []; // Symple instances
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
async function numsub(channel) {
  const res = await ctl.sendCommand(['PUBSUB', 'NUMSUB', channel]);
  return Number(res[1]);
}

async function numpat() {
  return Number(await ctl.sendCommand(['PUBSUB', 'NUMPAT']));
}

async function start() {
  if (!REDIS_URL) fatal('REDIS_URL is required');
  if (!Number.isInteger(SERVERS) || SERVERS < 1) fatal('SERVERS must be a positive integer');
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const remaining = () => Math.max(1, deadline - Date.now());

  ctl = createClient({ url: REDIS_URL });
  ctl.on('error', (err) => log('control redis error:', err.message));
  await withTimeout(ctl.connect(), remaining(), 'connecting to Redis');

  // Subscribers that were already there (e.g. another harness on the same Redis).
  const baseline = await numsub(REQUEST_CHANNEL);

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
    if (clients.get(name) === c) clients.delete(name);
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
