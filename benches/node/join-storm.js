#!/usr/bin/env node
// A join storm from browser-like clients: N JavaScript clients connect to one server and join
// one room, all at once, the way N browser tabs would. `ws` speaks Symple v4 to ours;
// `socket.io-client` speaks to npm's symple@2.1.1 (as its own browser client does).
//
//   node join-storm.js ours   ws://127.0.0.1:PORT N
//   node join-storm.js theirs http://127.0.0.1:PORT N
//
// Each client parses every frame it gets (as a page would: JSON.parse, a roster map). The
// storm is "joined" when every client has its join acknowledged (ours: `join:ok`; theirs: the
// ack of a message sent after the join, which the server handles in order), and "settled" when
// every client has also received the marker line written to stdin afterwards (`settle` makes
// this script print {"event":"joined"}; the caller then publishes a message whose data is
// {"marker": true} to the room), so every presence frame queued before it was read too.
//
// stdout: JSON lines: {"event":"joined","ms":…}, then {"event":"settled","ms":…,"frames":…}.
'use strict';

const path = require('path');
const NM = path.join(__dirname, '..', '..', 'tests', 'interop', 'node_modules');
const WebSocket = require(path.join(NM, 'ws'));
const { io } = require(path.join(NM, 'socket.io-client'));

const [kind, url, nArg] = process.argv.slice(2);
const N = parseInt(nArg || '1000', 10);
const ROOM = 'storm';
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
if (!['ours', 'theirs'].includes(kind) || !url) {
  out({ event: 'fatal', message: 'usage: join-storm.js ours|theirs URL N' });
  process.exit(2);
}

let joined = 0;
let settled = 0;
let frames = 0;
const t0 = process.hrtime.bigint();
const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
const sockets = [];

function onMessage(roster, m) {
  frames++;
  if (m.type === 'presence' && m.data) {
    if (m.data.online) roster.set(m.data.id, m.data);
    else roster.delete(m.data.id);
  }
  if (m.type === 'message' && m.data && m.data.marker) {
    settled++;
    if (settled === N) {
      out({ event: 'settled', ms: ms(), frames });
      for (const s of sockets) s.close();
      setTimeout(() => process.exit(0), 200);
    }
  }
}

function isJoined() {
  joined++;
  if (joined === N) out({ event: 'joined', ms: ms() });
}

function ours(i) {
  const ws = new WebSocket(url);
  sockets.push(ws);
  const roster = new Map();
  ws.on('open', () => {
    ws.send(JSON.stringify({ type: 'auth', user: `u${i}` }));
  });
  ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString());
    if (m.type === 'welcome') ws.send(JSON.stringify({ type: 'join', room: ROOM }));
    else if (m.type === 'join:ok') isJoined();
    else onMessage(roster, m);
  });
  ws.on('error', (e) => {
    out({ event: 'fatal', message: `client ${i}: ${e.message}` });
    process.exit(1);
  });
}

function theirs(i) {
  const s = io(url, { transports: ['websocket'], auth: { user: `u${i}` }, reconnection: false });
  sockets.push(s);
  const roster = new Map();
  s.on('connect', () => {
    s.emit('join', ROOM);
    s.emit('message', { type: 'message', from: `u${i}|${s.id}`, to: ['__storm_sync__'], data: {} }, () => isJoined());
  });
  s.on('message', (m) => onMessage(roster, m));
  s.on('disconnect', (reason) => {
    if (settled < N) {
      out({ event: 'fatal', message: `client ${i} disconnected: ${reason}` });
      process.exit(1);
    }
  });
  s.on('connect_error', (e) => {
    out({ event: 'fatal', message: `client ${i}: ${e.message}` });
    process.exit(1);
  });
}

for (let i = 0; i < N; i++) (kind === 'ours' ? ours : theirs)(i);
setTimeout(() => {
  out({ event: 'fatal', message: `timed out: ${joined} joined, ${settled} settled` });
  process.exit(1);
}, 120000).unref();
