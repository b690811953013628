# frozen_string_literal: true

RSpec.describe Symple::Emitter do
  on_every_redis do
    describe "on the native target (JSON on symple:broadcast)" do
      let(:emitter) { native_emitter(from: "rails|worker-1") }

      def published
        subscribed(channels: ["symple:broadcast"]) do |sub|
          yield
          sub.wait_for(1)
          sub.messages.map(&:json)
        end
      end

      it "emits a message, filling in id and from, with `to` from the chain" do
        msgs = published { emitter.to("alice").emit({ type: "message", data: { text: "hi" } }) }
        expect(msgs.size).to eq(1)
        m = msgs.first
        expect(m).to include("type" => "message", "data" => { "text" => "hi" }, "to" => "alice", "from" => "rails|worker-1")
        expect(m["id"]).to match(/\A[0-9a-f-]{36}\z/)
      end

      it "takes the message as keywords too, and keeps a message's own id and from" do
        m = published { emitter.to("alice").emit(type: "event", name: "x", id: "m-1", from: "app|1") }.first
        expect(m).to include("id" => "m-1", "from" => "app|1", "name" => "x")
      end

      it "merges keywords given after a message Hash into it" do
        m = published { emitter.to("alice").emit({ type: "message", data: 1 }, subtype: "chat", id: "m-2") }.first
        expect(m).to include("type" => "message", "data" => 1, "subtype" => "chat", "id" => "m-2")
      end

      it "uses the message's own `to` when the chain has none" do
        m = published { emitter.emit({ type: "message", to: ["r1", 7], data: 1 }) }.first
        expect(m["to"]).to eq(["r1", 7])
      end

      it "send(data) sends a message carrying data, as documented" do
        m = published { emitter.to("alice").send({ text: "Hi!" }) }.first
        expect(m).to include("type" => "message", "data" => { "text" => "Hi!" }, "to" => "alice")
      end

      it "send with keywords is the same call" do
        m = published { emitter.to("alice").send(text: "Hi!") }.first
        expect(m["data"]).to eq("text" => "Hi!")
      end

      it "keeps Object#send reachable for a Symbol naming a method, and __send__ / public_send" do
        expect(emitter.send(:target)).to eq(:native)
        expect(emitter.__send__(:queued?)).to be(false)
        expect(emitter.public_send(:to, "x")).to be_a(described_class)
        m = published { emitter.public_send(:to, "bob").send("plain") }.first
        expect(m).to include("data" => "plain", "to" => "bob")
      end

      it "send_message with a subtype (signalling)" do
        m = published { emitter.to("alice|s1").send_message({ sdp: "v=0" }, subtype: "call:offer") }.first
        expect(m).to include("type" => "message", "subtype" => "call:offer", "data" => { "sdp" => "v=0" }, "to" => "alice|s1")
      end

      it "send_presence sends a peer, never its token" do
        m = published { emitter.to("team-a").send_presence(user: "alice", name: "Alice", online: true, token: "secret", status: "busy") }.first
        expect(m["type"]).to eq("presence")
        expect(m["data"]).to eq("user" => "alice", "name" => "Alice", "online" => true, "status" => "busy")
        expect(JSON.generate(m)).not_to include("secret")
      end

      it "send_event stamps the current time" do
        m = published { emitter.to("alice").send_event("chat.typing", { user_id: 7, typing: true }) }.first
        expect(m).to include("type" => "event", "name" => "chat.typing", "data" => { "user_id" => 7, "typing" => true })
        expect(m["time"]).to be_within(60).of(Time.now.to_i)
      end

      it "send_command with an action" do
        m = published { emitter.to("alice").send_command("media:video", :set, { on: true }) }.first
        expect(m).to include("type" => "command", "node" => "media:video", "action" => "set", "data" => { "on" => true })
        m = published { emitter.to("alice").send_command("media:video") }.first
        expect(m["action"]).to eq("execute")
      end

      it "emit_raw publishes the Hash as given" do
        m = published { emitter.to("alice").emit_raw({ type: "message", data: 1 }) }.first
        expect(m.keys).to contain_exactly("type", "data", "to")
      end

      it "turns several rooms into a `to` array, integers kept as integers" do
        m = published { emitter.to("a", 42).to(["b"]).send(1) }.first
        expect(m["to"]).to eq(["a", 42, "b"])
      end

      it "starts from the rooms: given to new, as documented" do
        e = native_emitter(from: "u1", rooms: ["team-a"])
        m = published { e.emit({ type: "message", data: { text: "From Rails" } }) }.first
        expect(m).to include("to" => "team-a", "from" => "u1")
      end

      it "emit_batch publishes every message, pipelined" do
        subscribed(channels: ["symple:broadcast"]) do |sub|
          before = calls("publish")
          emitter.to("room").emit_batch((1..50).map { |i| { type: "message", data: i } })
          msgs = sub.wait_for(50).map(&:json)
          expect(msgs.map { |m| m["data"] }).to eq((1..50).to_a)
          expect(msgs.map { |m| m["id"] }.uniq.size).to eq(50)
          expect(calls("publish") - before).to eq(50)
        end
      end

      it "emit_batch sends nothing when one message is invalid" do
        before = calls("publish")
        expect { emitter.to("room").emit_batch([{ type: "message" }, [1]]) }
          .to raise_error(Symple::InvalidMessage, /must be a Hash, not Array/)
        expect(calls("publish")).to eq(before)
      end
    end
  end

  describe "chaining" do
    it "returns new emitters and leaves the original as it was" do
      base = native_emitter
      alice = base.to("alice")
      bob = base.to("bob").from("other|1")
      expect([alice, bob]).to all(be_a(described_class))
      expect(alice).not_to equal(base)
      expect(JSON.parse(alice.packet({ type: "message" })[1])).to include("to" => "alice", "from" => "server")
      expect(JSON.parse(bob.packet({ type: "message" })[1])).to include("to" => "bob", "from" => "other|1")
      expect { base.packet({ type: "message" }) }.to raise_error(Symple::MissingRecipient)
    end

    it "in is to, as Socket.IO spells it" do
      expect(JSON.parse(native_emitter.in("x").packet({ type: "m" })[1])["to"]).to eq("x")
    end
  end

  on_every_redis do
    describe "on the Socket.IO target (msgpack on symple#/#...)" do
      let(:emitter) { socketio_emitter(from: "rails|1") }

      def published(patterns: ["symple*"])
        subscribed(patterns: patterns) do |sub|
          yield
          sub.wait_for(1)
          sub.messages
        end
      end

      it "publishes the adapter packet to the room's channel" do
        msg = published { emitter.to("alice").send({ text: "hi" }) }.first
        expect(msg.channel).to eq("symple#/#alice#")
        uid, packet, opts = msg.msgpack
        expect(uid).to eq("emitter")
        expect(packet["type"]).to eq(2)
        expect(packet["nsp"]).to eq("/")
        event, data = packet["data"]
        expect(event).to eq("message")
        expect(data).to include("type" => "message", "data" => { "text" => "hi" }, "from" => "rails|1")
        expect(opts).to eq("rooms" => ["alice"], "flags" => {}, "except" => [])
      end

      it "keeps an Integer room an integer (to(user.id))" do
        _, _, opts = published { emitter.to(4242).send(1) }.first.msgpack
        expect(opts["rooms"]).to eq([4242])
        _, _, opts = published { emitter.to("4242").send(1) }.first.msgpack
        expect(opts["rooms"]).to eq(["4242"])
      end

      it "maps user|id to the socket's own room, applies except, volatile and compress" do
        msg = published { emitter.to("alice|sock1", "team").except("bob").volatile.compress(false).send(1) }.first
        expect(msg.channel).to eq("symple#/#")
        _, _, opts = msg.msgpack
        expect(opts).to eq("rooms" => %w[sock1 team], "flags" => { "volatile" => true, "compress" => false }, "except" => ["bob"])
      end

      it "uses key:, namespace: and of()" do
        e = socketio_emitter(key: "app", namespace: "chat")
        expect(published(patterns: ["app*"]) { e.to("r").send(1) }.first.channel).to eq("app#/chat#r#")
        expect(published(patterns: ["app*"]) { e.of("/admin").send(1) }.first.channel).to eq("app#/admin#")
      end

      it "emits custom events with any arguments, and a custom event for messages" do
        _, packet, = published { emitter.to("r").emit_event("ping", 1, "two", { three: 3 }) }.first.msgpack
        expect(packet["data"]).to eq(["ping", 1, "two", { "three" => 3 }])
        _, packet, = published { emitter.to("r").event("chat").send(1) }.first.msgpack
        expect(packet["data"][0]).to eq("chat")
      end

      it "publishes room operations on the request channel as JSON" do
        msgs = published(patterns: ["symple-request*"]) do
          emitter.to("alice").sockets_join("vip", 7)
        end
        expect(msgs.first.channel).to eq("symple-request#/#")
        expect(msgs.first.json).to eq("type" => 2, "opts" => { "rooms" => ["alice"], "except" => [] }, "rooms" => ["vip", 7])
        expect(published(patterns: ["symple-request*"]) { emitter.to("alice").sockets_leave("vip") }.first.json["type"]).to eq(3)
        expect(published(patterns: ["symple-request*"]) { emitter.to("alice").disconnect_sockets(true) }.first.json)
          .to eq("type" => 4, "opts" => { "rooms" => ["alice"], "except" => [] }, "close" => true)
      end

      it "emits to every socket when no room is chosen" do
        expect(published { emitter.send(1) }.first.channel).to eq("symple#/#")
      end
    end
  end

  on_every_redis do
    describe "queued mode" do
      it "returns once queued; flush waits until Redis has them all" do
        e = native_emitter(queued: true)
        expect(e.queued?).to be(true)
        subscribed(channels: ["symple:broadcast"]) do |sub|
          room = e.to("r")
          1000.times { |i| room.send(i) }
          e.flush
          expect(sub.wait_for(1000).map { |m| m.json["data"] }).to eq((0..999).to_a)
        end
      end

      it "reports a failure on flush, then reconnects" do
        e = native_emitter(queued: true)
        e.to("r").send(1)
        e.flush
        # Cut the writer's connection: its next pipeline fails, and flush says so. (A cluster
        # connection reopens the node's connection and resends instead: flush sees no loss.
        # Its flush failures are covered by tests/failover.rs, which kills a master.)
        redis_server.kill_clients
        e.to("r").send(2)
        if redis_server.kind == :cluster
          expect(e.flush).to be(true)
        else
          expect { e.flush }.to raise_error(Symple::ConnectionError, /127\.0\.0\.1/)
        end
        subscribed(channels: ["symple:broadcast"]) do |sub|
          e.to("r").send(3)
          expect(e.flush).to be(true)
          expect(sub.wait_for(1).map { |m| m.json["data"] }).to eq([3])
        end
      end
    end
  end

  on_every_redis do
    describe "sessions through the emitter" do
      it "create_session and destroy_session, as documented" do
        e = native_emitter
        expect(e.create_session("tok", { user: "alice", rooms: ["team-a"] }, ttl: 604_800)).to be(true)
        expect(JSON.parse(admin.get("symple:session:tok"))).to eq("user" => "alice", "rooms" => ["team-a"])
        expect(admin.ttl("symple:session:tok")).to be > 604_000
        expect(e.to("x").destroy_session("tok")).to be(true)
        expect(admin.exists?("symple:session:tok")).to be(false)
      end
    end
  end

  describe "redis:" do
    it "reads the URL of a redis-rb client, including its db" do
      admin.select(0)
      e = described_class.new(redis: Redis.new(url: redis_url, db: 3), target: :native)
      e.create_session("in-3", { user: "a" })
      expect(Redis.new(url: redis_url, db: 3).exists?("symple:session:in-3")).to be(true)
      expect(admin.exists?("symple:session:in-3")).to be(false)
    end

    it "defaults to SYMPLE_REDIS_URL, then REDIS_URL" do
      Symple.configure { |c| c.redis = nil }
      old = ENV.to_h.slice("SYMPLE_REDIS_URL", "REDIS_URL")
      ENV["SYMPLE_REDIS_URL"] = "#{redis_url}/4"
      ENV["REDIS_URL"] = "redis://127.0.0.1:1"
      described_class.new(target: :native).create_session("env", { user: "a" })
      expect(Redis.new(url: redis_url, db: 4).exists?("symple:session:env")).to be(true)
    ensure
      %w[SYMPLE_REDIS_URL REDIS_URL].each { |k| ENV[k] = old[k] }
    end
  end
end
