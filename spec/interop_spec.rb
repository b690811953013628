# frozen_string_literal: true

# Ruby-emitted messages reach the right socket.io clients of real Socket.IO servers (two
# instances sharing Redis): npm's symple@2.1.1 (@socket.io/redis-adapter 7.2 inside, token
# auth with sessions made by Symple::Session), and socket.io 4.8 with @socket.io/redis-adapter 8
# (classic, and sharded in each subscription mode) or @socket.io/redis-streams-adapter, each
# reached through its own target. Native-target packets carry the same messages on
# symple:broadcast. The socket.io 4.8 kinds run on a single Redis and on a 3-master cluster
# (their node-redis clients made by createCluster).
require "securerandom"

RSpec.describe "interop with real Socket.IO servers" do
  # Each context: the harness's SERVER_KIND and the emitter settings that reach it.
  SERVERS = {
    "npm symple@2.1.1" => ["symple", { target: :socketio }],
    "socket.io 4.8 + redis-adapter 8 (classic)" => ["classic", { target: :socketio }],
    "socket.io 4.8 + sharded adapter (static)" => ["sharded:static", { target: :socketio_sharded, subscription_mode: :static }],
    "socket.io 4.8 + sharded adapter (dynamic)" => ["sharded:dynamic", { target: :socketio_sharded }],
    "socket.io 4.8 + sharded adapter (dynamic-private)" =>
      ["sharded:dynamic-private", { target: "socketio-sharded", subscription_mode: "dynamic-private" }],
    "socket.io 4.8 + redis-streams-adapter" => ["streams", { target: :socketio_streams }]
  }.freeze

  # npm symple@2.1.1 (node-redis 4.0) cannot use a cluster.
  ON = { plain: SERVERS, cluster: SERVERS.reject { |_, (kind, _)| kind == "symple" } }.freeze

  ON.each do |redis_kind, servers|
    servers.each do |title, (kind, settings)|
      context "#{title}, on the #{redis_kind} Redis", redis_kind: redis_kind do
        before(:all) do
          server = Support::RedisServer.instance(redis_kind)
          server.flush
          @harness = Support::Harness.new(server.url, kind: kind)
          session = Symple::Session.new(redis: server.url)
          session.set("tok-alice1", { user: "alice", name: "Alice", rooms: ["team-a"] })
          session.set("tok-alice2", { user: "alice", rooms: ["team-a"] })
          session.set("tok-bob", { user: "bob", rooms: ["team-b"] })
          # On symple@2.1.1 the sessions written by Symple::Session authenticate these sockets;
          # the plain servers take the user from the handshake.
          @sid_alice1 = @harness.connect("alice1", user: "alice", token: "tok-alice1", server: 0, join: ["team-a"])
          @sid_alice2 = @harness.connect("alice2", user: "alice", token: "tok-alice2", server: 1, join: ["team-a"])
          @sid_bob = @harness.connect("bob", user: "bob", token: "tok-bob", server: 1, join: ["team-b"])
        end

        after(:all) { @harness&.quit }

        # The spec-wide hook empties Redis before each example; the sessions are needed only to
        # connect, which happened above.
        let(:h) { @harness }
        let(:emitter) { Symple::Emitter.new(redis: redis_url, from: "rails|spec", **settings) }

        def sid(name)
          { "alice1" => @sid_alice1, "alice2" => @sid_alice2, "bob" => @sid_bob }.fetch(name)
        end

        # Sends a fence to the socket and returns every message it got before the fence. Each
        # server delivers in the order Redis got them, so nothing sent earlier can come later.
        def until_fence(name, socket_id = sid(name))
          fence = "fence-#{SecureRandom.hex(4)}"
          emitter.to(socket_id).send(fence)
          got = []
          while (m = h.message_for(name))["data"] != fence
            got << m
          end
          got
        end

        # Nothing else reached `name`.
        def nothing_else_for(*names)
          names.each { |name| expect(until_fence(name)).to eq([]), "#{name} got more" }
        end

        # Whether `name`'s socket is in `room` now: a probe to the room arrives before the fence.
        def in_room?(name, room)
          probe = "probe-#{SecureRandom.hex(4)}"
          emitter.to(room).send(probe)
          until_fence(name).any? { |m| m["data"] == probe }
        end

        # Each example starts with empty mailboxes.
        after { %w[alice1 alice2 bob].each { |n| until_fence(n) } }

        it "to(user) reaches every socket of the user, on both servers, and nobody else" do
          emitter.to("alice").send({ text: "hi alice" })
          [h.message_for("alice1"), h.message_for("alice2")].each do |m|
            expect(m).to include("type" => "message", "data" => { "text" => "hi alice" }, "from" => "rails|spec")
          end
          nothing_else_for("bob", "alice1", "alice2")
        end

        it "to(user|socket id) reaches that one socket" do
          emitter.to("alice|#{@sid_alice2}").send_message({ sdp: "v=0" }, subtype: "call:offer")
          expect(h.message_for("alice2")).to include("subtype" => "call:offer", "data" => { "sdp" => "v=0" })
          nothing_else_for("alice1", "bob")
        end

        it "to(joined room) reaches its members only" do
          emitter.to("team-b").send("for team b")
          expect(h.message_for("bob")["data"]).to eq("for team b")
          nothing_else_for("alice1", "alice2", "bob")
        end

        it "with no room reaches everybody, once each" do
          emitter.send("everybody")
          %w[alice1 alice2 bob].each { |n| expect(h.message_for(n)["data"]).to eq("everybody") }
          nothing_else_for("alice1", "alice2", "bob")
        end

        it "except skips sockets in the excepted room" do
          emitter.except("alice").send("not alice")
          expect(h.message_for("bob")["data"]).to eq("not alice")
          nothing_else_for("alice1", "alice2", "bob")
        end

        it "several rooms with except: each socket once, the excepted one never" do
          emitter.to("team-a", "team-b", "alice").except(@sid_alice1).send_event("deploy", { v: 3 })
          expect(h.message_for("alice2")).to include("type" => "event", "name" => "deploy", "data" => { "v" => 3 })
          expect(h.message_for("bob")).to include("name" => "deploy")
          nothing_else_for("alice1", "alice2", "bob")
        end

        it "presence and commands arrive as sent, without a token" do
          emitter.to("bob").send_presence(user: "server", name: "Server", token: "secret")
          emitter.to("bob").send_command("media:video", :set, { on: true })
          presence = h.message_for("bob")
          expect(presence).to include("type" => "presence", "data" => { "user" => "server", "name" => "Server", "online" => true })
          expect(JSON.generate(presence)).not_to include("secret")
          expect(h.message_for("bob")).to include("type" => "command", "node" => "media:video", "action" => "set")
        end

        it "a burst of 100 (emit_batch, then the queued emitter) arrives whole and in order" do
          emitter.to("bob").emit_batch((1..50).map { |i| { type: "message", data: i } })
          queued = Symple::Emitter.new(redis: redis_url, queued: true, **settings).to("bob")
          (51..100).each { |i| queued.send(i) }
          queued.flush
          expect(Array.new(100) { h.message_for("bob")["data"] }).to eq((1..100).to_a)
          nothing_else_for("alice1", "alice2", "bob")
        end

        it "sockets_join and sockets_leave move sockets between rooms" do
          expect(in_room?("bob", "vip")).to be(false)
          emitter.to(@sid_bob).sockets_join("vip")
          # Room operations are applied asynchronously and unacknowledged: poll.
          wait_until("bob to be in vip") { in_room?("bob", "vip") }
          expect(in_room?("alice1", "vip")).to be(false)
          emitter.to(@sid_bob).sockets_leave("vip")
          wait_until("bob to leave vip") { !in_room?("bob", "vip") }
        end

        it "disconnect_sockets disconnects the targeted sockets" do
          Symple::Session.new.set("tok-erin", { user: "erin" })
          h.connect("erin", user: "erin", token: "tok-erin", server: 0)
          emitter.to("erin").disconnect_sockets(true)
          expect(h.event_for("erin", "disconnect")["reason"]).to match(/server disconnect|transport close/)
          nothing_else_for("bob")
        end

        it "a Rails-style to(user.id) reaches a socket whose user is that Integer, not the String" do
          Support::Database.setup
          user = User.create!(username: "dora-#{SecureRandom.hex(2)}")
          # symple@2.1.1 keeps the session's Integer `user` and joins the Integer room, which
          # is what a Rails id addresses (the plain servers join the handshake's Integer user).
          Symple::Session.new.set("tok-int", { user: user.id })
          expect(admin.get("symple:session:tok-int")).to eq(JSON.generate(user: user.id))
          h.connect("dora", user: user.id, token: "tok-int", server: 1)
          emitter.to(user.id).send({ hello: "integer room" })
          expect(h.message_for("dora")).to include("data" => { "hello" => "integer room" })
          # The String room of the same digits is another room on Socket.IO: nothing arrives
          # before the next message to the Integer room.
          emitter.to(user.id.to_s).send("string room")
          emitter.to(user.id).send("fence")
          expect(h.message_for("dora")["data"]).to eq("fence")
        ensure
          h.call(cmd: "disconnect", name: "dora")
        end

        next unless kind == "symple"

        it "a session made by Symple::Session authenticates, and an unknown token does not" do
          reply = h.call(cmd: "connect", name: "nobody", user: "x", token: "no-such-token")
          expect(reply["event"]).to eq("connect_error")
          expect(reply["message"]).to match(/Authentication failed|session/i)
        end

        it "sessions of user 4242 (gem and CLI) and of user \"4242\" authenticate; to(4242) and to(\"4242\") reach only their own" do
          # Each user's session is made once by the gem and once by the CLI. The handshake's
          # `user` is a placeholder: symple@2.1.1 takes the user, hence the room, from the session.
          gem = Symple::Session.new
          tokens = {
            "int-gem" => gem.create({ user: 4242, name: "Int" }, ttl: 600),
            "int-cli" => Support::Cli.json("session", "create", "--url", redis_url,
                                           "--data", '{"user":4242}', "--ttl", "600").fetch("token"),
            "str-gem" => gem.create({ user: "4242", name: "Str" }, ttl: 600),
            "str-cli" => Support::Cli.json("session", "create", "--url", redis_url,
                                           "--data", '{"user":"4242"}', "--ttl", "600").fetch("token")
          }
          expect(admin.get("symple:session:#{tokens["int-cli"]}")).to eq('{"user":4242}')
          expect(admin.get("symple:session:#{tokens["str-cli"]}")).to eq('{"user":"4242"}')
          sids = tokens.to_h do |name, token|
            [name, h.connect(name, user: "handshake-#{name}", token: token, server: name.end_with?("cli") ? 1 : 0)]
          end

          emitter.to(4242).send("to the integer")
          expect(h.message_for("int-gem")["data"]).to eq("to the integer")
          expect(h.message_for("int-cli")["data"]).to eq("to the integer")
          emitter.to("4242").send("to the string")
          expect(h.message_for("str-gem")["data"]).to eq("to the string")
          expect(h.message_for("str-cli")["data"]).to eq("to the string")
          # Nothing else reached any of them: a fence to each socket arrives first.
          sids.each do |name, socket_id|
            expect(until_fence(name, socket_id)).to eq([]), "#{name} got a message for the other user"
          end
        ensure
          tokens&.each_key { |name| h.call(cmd: "disconnect", name: name) }
        end

        it "the native target carries the same message as JSON on symple:broadcast" do
          native = native_emitter(from: "rails|spec")
          subscribed(channels: ["symple:broadcast"]) do |sub|
            native.to("alice").send({ text: "hi alice" })
            native.to("alice|#{@sid_alice2}").send_message({ sdp: "v=0" }, subtype: "call:offer")
            native.to("team-a", "team-b").send_event("deploy", { v: 3 })
            msgs = sub.wait_for(3).map(&:json)
            expect(msgs[0]).to include("to" => "alice", "data" => { "text" => "hi alice" }, "from" => "rails|spec", "type" => "message")
            expect(msgs[1]).to include("to" => "alice|#{@sid_alice2}", "subtype" => "call:offer")
            expect(msgs[2]).to include("to" => %w[team-a team-b], "type" => "event", "name" => "deploy")
          end
          # Socket.IO servers ignore symple:broadcast: nothing reached the clients.
          nothing_else_for("alice1")
        end
      end
    end
  end

  ON.each_key do |redis_kind|
    context "socket.io 4.8 + redis-streams-adapter with connection-state recovery, on the #{redis_kind} Redis",
            redis_kind: redis_kind do
      before(:all) do
        @harness = Support::Harness.new(Support::RedisServer.instance(redis_kind).url, kind: "streams")
      end

      after(:all) { @harness&.quit }

      it "a client that was away receives, on its return, what Rails sent meanwhile" do
        h = @harness
        emitter = Symple::Emitter.new(redis: redis_url, target: :socketio_streams)
        h.connect("gus", user: "gus", token: "t", server: 0)
        emitter.to("gus").send(0) # gives the client an offset in the stream
        expect(h.message_for("gus")["data"]).to eq(0)
        expect(h.call(cmd: "drop", name: "gus")["event"]).to eq("ok")
        emitter.to("gus").emit_batch((1..10).map { |i| { type: "message", data: i } })
        back = h.call(cmd: "reconnect", name: "gus")
        expect(back).to include("event" => "connected", "recovered" => true)
        emitter.to("gus").send(11)
        expect(Array.new(11) { h.message_for("gus")["data"] }).to eq((1..11).to_a)
        expect(h.received("gus")).to eq([])
      ensure
        h&.call(cmd: "disconnect", name: "gus")
      end
    end
  end
end
