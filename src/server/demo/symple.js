// A small Symple v4 client for browsers, over the native WebSocket: token auth, a roster
// kept from presence, messages, join/leave, reconnection, and recovery of what was missed
// while away (rooms with `--history` on the server). Served by `symple server --demo` at
// /demo/symple.js. Events: "connected" (welcome), "roster", "message" (any routed frame;
// `replayed: true` on one recovered after a reconnect), "recovery" (the server's answer:
// {rooms: {R: {recovered, replayed, offset, reason?}}}), "error" (an error frame),
// "disconnected" ({code, reason, willRetry}).
class SympleClient {
  constructor(url, auth) {
    this.url = url;
    this.auth = auth; // {token} or {user, name}: the first frame
    this.roster = new Map(); // peer id -> peer, from presence
    this.handlers = {};
    this.retries = 0;
    this.stopped = false;
    this.recovering = new Set(); // rooms asked for, until the `recovery` frame
    // Room -> the offset of the last message seen there (its `history` field), sent back as
    // `recover` when reconnecting, so the server replays what came in between.
    this.offsets = {};
  }

  on(event, fn) { (this.handlers[event] ||= []).push(fn); return this; }
  emit(event, arg) { (this.handlers[event] || []).forEach((fn) => fn(arg)); }

  connect() {
    this.welcomed = false;
    this.refused = false;
    const ws = (this.ws = new WebSocket(this.url));
    // Recovering until the server's `recovery` frame: what arrives before it is the replay.
    this.recovering = new Set(Object.keys(this.offsets));
    const recover = this.recovering.size > 0 ? { recover: { ...this.offsets } } : {};
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", ...this.auth, ...recover }));
    ws.onmessage = (e) => this.receive(JSON.parse(e.data));
    ws.onclose = (e) => this.closed(e);
  }

  receive(m) {
    if (m.type === "welcome") {
      this.peer = m.peer;
      this.welcomed = true;
      this.retries = 0;
      this.emit("connected", m);
    } else if (m.type === "presence" && m.data) {
      if (m.data.id === this.peer?.id) return;
      if (m.data.online === false) this.roster.delete(m.data.id);
      else this.roster.set(m.data.id, m.data);
      this.emit("roster", [...this.roster.values()]);
    } else if (m.type === "join:ok") {
      // The joined room's position: recover from there if the connection drops before its
      // first message (a message already seen there is further on).
      if (m.history && !(m.room in this.offsets)) this.offsets[m.room] = m.history.offset;
      this.emit("message", m);
    } else if (m.type === "recovery") {
      this.recovering.clear();
      // Recovered or not, go on from the position the server gives (not recovered: what
      // was missed is gone from the history; the application refetches it).
      for (const [room, r] of Object.entries(m.rooms || {})) {
        if (r.offset) this.offsets[room] = r.offset;
        else delete this.offsets[room];
      }
      this.emit("recovery", m);
    } else if (m.type === "error") {
      // An auth failure before the welcome: the token is not (or no longer) valid.
      if (!this.welcomed && m.status === 401) this.refused = true;
      this.emit("error", m);
    } else {
      if (m.history && m.history.room) {
        if (this.recovering.has(m.history.room)) m.replayed = true;
        this.offsets[m.history.room] = m.history.offset;
      }
      this.emit("message", m);
    }
  }

  closed(e) {
    this.roster.clear();
    this.emit("roster", []);
    // Refused at auth: retrying with the same token cannot help. Otherwise back off and retry.
    const willRetry = !this.stopped && !this.refused;
    this.emit("disconnected", { code: e.code, reason: e.reason, welcomed: this.welcomed, willRetry });
    if (willRetry) setTimeout(() => this.connect(), Math.min(500 * 2 ** this.retries++, 10000));
  }

  send(to, data, subtype) { this.ws.send(JSON.stringify({ type: "message", to, subtype, data })); }
  join(room) { this.ws.send(JSON.stringify({ type: "join", room })); }
  leave(room) { this.ws.send(JSON.stringify({ type: "leave", room })); delete this.offsets[room]; }
  close() { this.stopped = true; this.ws.send(JSON.stringify({ type: "close" })); this.ws.close(1000); }
}
