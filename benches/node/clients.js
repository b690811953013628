#!/usr/bin/env node
// Browser-like load clients for benches/server.rs: N connections to one server, in a process
// of their own, with the npm clients a web page uses. Same arguments, commands and account as
// the Rust client process (benches/server/clients.rs, measure.rs).
//
//   node clients.js KIND URL N ROOMS PREFIX CONCURRENCY
//
// KIND ours: the `ws` package against our server; auth {"type":"auth","user":PREFIX+i,
//            "rooms":[...]} (anonymous mode), connected once `welcome` arrives.
// KIND sio:  socket.io-client (websocket transport) against socketioxide; auth {user: PREFIX+i},
//            then emit('join', room) per room with an ack, ready once every join is acknowledged
//            (socketioxide runs each event handler as a task of its own, so a later event's ack
//            would not prove an earlier join was done).
// KIND sio-ordered: the same against npm's symple@2.1.1, which handles a socket's events in
//            order but never acks a join (Socket.IO 4's socket.join takes no callback, so the
//            ack symple hands it is never called): emit('join', room) per room, then a
//            `message` whose ack proves the joins are done.
// ROOMS "-" joins no room (idle connections: each client only in its personal room), else a
// comma-separated list, each ROOM (every client) or ROOM@K (clients 0..K).
//
// stdout carries JSON lines only; the first is
//   {"event":"ready","connected":C,"failed":F,"retried":R,"ms":T,"errors":{...},"frames":K}
// once every connection is up or has failed and (ours) presence traffic has gone quiet.
// Commands on stdin, one JSON object per line:
//   {"cmd":"measure","id":R,"recipients":K,"messages":M,"timeout_ms":T,"idle_ms":I}
//       -> {"event":"armed","id":R}, later {"event":"result","id":R,...}: deliveries of bench
//          messages whose data.run == R, until clients 0..K each got messages 0..M, nothing
//          came for I ms, or T ms passed; "count" (first deliveries), "duplicates", "wrong"
//          (to clients outside 0..K). Latency per delivery = receive time - data.t, both
//          wall-clock ms (performance.timeOrigin + performance.now() here, CLOCK_REALTIME in
//          Rust); the result lists every one, in integer microseconds, as "lat_us".
//   {"cmd":"status"} -> {"event":"status","open":O,"closed":X}
// stdin EOF ends the process (every socket closes with it).
'use strict';

const util = require('util');

// From this folder's locked install (npm ci in benches/node).
const WebSocket = require('ws');
const { io } = require('socket.io-client');

console.log = (...a) => process.stderr.write(util.format(...a) + '\n');
console.warn = console.log;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const now = () => performance.timeOrigin + performance.now();

const [KIND, URL, N_ARG, ROOMS_ARG, PREFIX = 'c', CONC_ARG = '200'] = process.argv.slice(2);
const N = parseInt(N_ARG, 10);
const ROOMS = !ROOMS_ARG || ROOMS_ARG === '-' ? [] : ROOMS_ARG.split(',').map((r) => {
  const at = r.indexOf('@');
  return at < 0 ? { room: r, k: Infinity } : { room: r.slice(0, at), k: parseInt(r.slice(at + 1), 10) };
});
const roomsOf = (i) => ROOMS.filter((r) => i < r.k).map((r) => r.room);
const CONCURRENCY = parseInt(CONC_ARG, 10);
if (!['ours', 'sio', 'sio-ordered'].includes(KIND) || !URL || !(N > 0) || !ROOMS_ARG || !(CONCURRENCY > 0)
    || ROOMS.some((r) => !r.room || Number.isNaN(r.k))) {
  out({ event: 'fatal', message: 'usage: clients.js ours|sio|sio-ordered URL N ROOMS|- PREFIX CONCURRENCY' });
  process.exit(2);
}
const CONNECT_TIMEOUT_MS = 15000;
// Tries per client: a busy shared machine can stall one handshake past the timeout; a browser
// would try again too. Retries are reported in the `ready` line.
const ATTEMPTS = 3;
const QUIET_MS = 500;
const QUIET_LIMIT_MS = 60000;

const clients = []; // { isOpen(): bool }
let frames = 0; // every frame or event received, bench or not
let lastFrame = 0;
let closedAfterReady = 0;
let ready = false;

// ---------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------
let run = null;

function onMessage(m, index) {
  frames++;
  lastFrame = now();
  const r = run;
  if (r === null || m === null || typeof m !== 'object' || m.type !== 'message') return;
  const d = m.data;
  if (!d || d.run !== r.id) return;
  const t = now();
  const seq = d.seq;
  if (index >= r.recipients || !Number.isInteger(seq) || seq < 0 || seq >= r.messages) {
    r.wrong++;
    return;
  }
  const bit = index * r.messages + seq;
  if (r.seen[bit]) {
    r.duplicates++;
    return;
  }
  r.seen[bit] = 1;
  r.lat[r.count] = t - d.t;
  r.count++;
  r.perClient[index]++;
  if (r.firstRx === 0) r.firstRx = t;
  r.lastRx = t;
  if (r.count >= r.expect) finish(r);
}

function finish(r) {
  if (run !== r) return;
  run = null;
  clearInterval(r.timer);
  let min = r.recipients > 0 ? Infinity : 0;
  let max = 0;
  for (const c of r.perClient) {
    if (c < min) min = c;
    if (c > max) max = c;
  }
  // Every latency, in integer microseconds: the bench merges processes and takes percentiles.
  const latUs = new Array(r.count);
  for (let i = 0; i < r.count; i++) latUs[i] = Math.round(r.lat[i] * 1000);
  out({
    event: 'result',
    id: r.id,
    count: r.count,
    duplicates: r.duplicates,
    wrong: r.wrong,
    first_rx: r.firstRx,
    last_rx: r.lastRx,
    per_client_min: min,
    per_client_max: max,
    lat_us: latUs,
  });
}

function measure(cmd) {
  if (run !== null) finish(run);
  const recipients = Math.min(cmd.recipients | 0, clients.length);
  const messages = cmd.messages | 0;
  const expect = recipients * messages;
  const r = {
    id: cmd.id,
    recipients,
    messages,
    expect,
    lat: new Float64Array(expect),
    seen: new Uint8Array(expect),
    perClient: new Uint32Array(recipients),
    count: 0,
    duplicates: 0,
    wrong: 0,
    firstRx: 0,
    lastRx: 0,
    armed: now(),
  };
  const idle = cmd.idle_ms || 2000;
  r.timer = setInterval(() => {
    const t = now();
    if (t - r.armed > cmd.timeout_ms || (r.count > 0 && t - r.lastRx > idle)) finish(r);
  }, 50);
  run = r;
  out({ event: 'armed', id: cmd.id });
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------
function connectOurs(i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(URL, { perMessageDeflate: false, handshakeTimeout: CONNECT_TIMEOUT_MS });
    let welcomed = false;
    const timer = setTimeout(() => fail(new Error('no welcome within ' + CONNECT_TIMEOUT_MS + ' ms')), CONNECT_TIMEOUT_MS);
    function fail(e) {
      clearTimeout(timer);
      if (!welcomed) {
        welcomed = true;
        ws.terminate();
        reject(e);
      }
    }
    ws.on('open', () => {
      const auth = { type: 'auth', user: PREFIX + i };
      const rooms = roomsOf(i);
      if (rooms.length > 0) auth.rooms = rooms;
      ws.send(JSON.stringify(auth));
    });
    ws.on('message', (data) => {
      let m;
      try {
        m = JSON.parse(data.toString());
      } catch (_) {
        m = null;
      }
      if (!welcomed) {
        if (m && m.type === 'welcome') {
          welcomed = true;
          clearTimeout(timer);
          resolve({ isOpen: () => ws.readyState === 1 });
        } else {
          fail(new Error('first frame was not welcome: ' + String(data).slice(0, 80)));
        }
        return;
      }
      onMessage(m, i);
    });
    ws.on('error', (e) => fail(new Error(e.code || e.message)));
    ws.on('close', () => {
      fail(new Error('closed before welcome'));
      if (ready) closedAfterReady++;
    });
  });
}

function connectSocketIo(i) {
  return new Promise((resolve, reject) => {
    const user = PREFIX + i;
    const socket = io(URL, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: CONNECT_TIMEOUT_MS,
      auth: { user },
    });
    let settled = false;
    const done = (err) => {
      if (settled) return;
      settled = true;
      if (err) {
        socket.close();
        reject(err);
      } else {
        resolve({ isOpen: () => socket.connected });
      }
    };
    socket.on('message', (m) => onMessage(m, i));
    socket.on('connect_error', (e) => done(new Error(e && e.message ? e.message : String(e))));
    socket.on('disconnect', () => {
      done(new Error('disconnected before ready'));
      if (ready) closedAfterReady++;
    });
    socket.on('connect', () => {
      const rooms = roomsOf(i);
      if (rooms.length === 0) return done(null);
      if (KIND === 'sio-ordered') {
        for (const room of rooms) socket.emit('join', room);
        const sync = { type: 'message', from: user + '|' + socket.id, to: ['__bench_sync__'], data: {} };
        socket.timeout(CONNECT_TIMEOUT_MS).emit('message', sync, (err) =>
          done(err ? new Error('join confirmation timed out') : null)
        );
        return;
      }
      let left = rooms.length;
      for (const room of rooms) {
        socket.timeout(CONNECT_TIMEOUT_MS).emit('join', room, (err) => {
          if (err) return done(new Error('join confirmation timed out'));
          if (--left === 0) done(null);
        });
      }
    });
  });
}

async function connectAll() {
  const t0 = now();
  const connectOne = KIND === 'ours' ? connectOurs : connectSocketIo;
  const errors = {};
  let next = 0;
  let failed = 0;
  let retried = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      for (let attempt = 1; ; attempt++) {
        try {
          clients[i] = await connectOne(i);
          break;
        } catch (e) {
          if (attempt < ATTEMPTS) {
            retried++;
            continue;
          }
          failed++;
          clients[i] = { isOpen: () => false };
          errors[e.message] = (errors[e.message] || 0) + 1;
          break;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, N) }, worker));
  const ms = now() - t0;
  // Ours tells every room member about each newcomer: wait until that has been delivered.
  const quietSince = now();
  while (now() - quietSince < QUIET_LIMIT_MS && now() - Math.max(lastFrame, quietSince) < QUIET_MS) {
    await new Promise((r) => setTimeout(r, 50));
  }
  ready = true;
  out({ event: 'ready', connected: N - failed, failed, retried, ms: Math.round(ms), errors, frames });
}

connectAll().then(() => {
  const rl = require('readline').createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (line) => {
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (_) {
      return out({ event: 'error', message: 'invalid JSON' });
    }
    if (cmd.cmd === 'measure') measure(cmd);
    else if (cmd.cmd === 'status') {
      let open = 0;
      for (const c of clients) if (c && c.isOpen()) open++;
      out({ event: 'status', open, closed: closedAfterReady });
    } else out({ event: 'error', message: 'unknown command' });
  });
  rl.on('close', () => process.exit(0));
});
