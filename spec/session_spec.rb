# frozen_string_literal: true

RSpec.describe Symple::Session do
  subject(:session) { described_class.new(redis: redis_url) }

  def stored(token)
    raw = admin.get("symple:session:#{token}")
    raw && JSON.parse(raw)
  end

  on_every_redis do
    describe "#set and #get" do
      it "stores the data as a JSON object under symple:session:<token>, symbol keys as strings" do
        expect(session.set("tok-1", { user: "alice", name: "Alice", rooms: ["team-a"] }, ttl: 3600)).to be(true)
        expect(stored("tok-1")).to eq("user" => "alice", "name" => "Alice", "rooms" => ["team-a"])
        expect(admin.ttl("symple:session:tok-1")).to be_between(3590, 3600)
        expect(session.get("tok-1")).to eq("user" => "alice", "name" => "Alice", "rooms" => ["team-a"])
      end

      it "accepts string keys, keeps application fields and their types, and replaces a value" do
        session.set("tok-2", { "user" => "bob", "plan" => { "seats" => 3, "trial" => false } })
        session.set("tok-2", { "user" => "bob", "plan" => nil })
        expect(session.get("tok-2")).to eq("user" => "bob", "plan" => nil)
        expect(admin.ttl("symple:session:tok-2")).to eq(-1) # no TTL: never expires
      end

      it "takes an ActiveSupport::Duration as the TTL" do
        require "active_support/core_ext/integer/time"
        session.set("tok-3", { user: "carol" }, ttl: 1.week)
        expect(admin.ttl("symple:session:tok-3")).to be_between(7 * 86_400 - 10, 7 * 86_400)
      end

      it "returns nil for a token with no session" do
        expect(session.get("nope")).to be_nil
      end
    end
  end

  on_every_redis do
    describe "#touch" do
      it "extends the TTL of an existing session" do
        session.set("t", { user: "alice" }, ttl: 10)
        expect(session.touch("t", ttl: 5000)).to be(true)
        expect(admin.ttl("symple:session:t")).to be > 4000
      end

      it "never creates a session that does not exist" do
        expect(session.touch("ghost", ttl: 60)).to be(false)
        expect(admin.exists?("symple:session:ghost")).to be(false)
      end
    end
  end

  on_every_redis do
    describe "#exists? and #delete" do
      it "reports and removes a session" do
        session.set("t", { user: "alice" })
        expect(session.exists?("t")).to be(true)
        expect(session.delete("t")).to be(true)
        expect(session.exists?("t")).to be(false)
        expect(session.delete("t")).to be(false)
      end
    end
  end

  on_every_redis do
    describe "#create" do
      it "creates a session under a new random token and returns it" do
        token = session.create({ user: "alice" }, ttl: 60)
        expect(token).to match(/\A[0-9a-f-]{36}\z/)
        expect(stored(token)).to eq("user" => "alice")
        expect(session.create({ user: "alice" })).not_to eq(token)
      end

      it "creates under a chosen token, and refuses a token in use" do
        expect(session.create({ user: "alice" }, token: "mine")).to eq("mine")
        expect { session.create({ user: "bob" }, token: "mine") }
          .to raise_error(Symple::InvalidSession, /token mine is already in use/)
        expect(stored("mine")).to eq("user" => "alice")
      end
    end
  end

  on_every_redis do
    describe "#update" do
      it "merges fields into the session and keeps its TTL" do
        session.set("t", { user: "alice", name: "A" }, ttl: 500)
        expect(session.update("t", { name: "Alice", rooms: ["x"] })).to be(true)
        expect(session.get("t")).to eq("user" => "alice", "name" => "Alice", "rooms" => ["x"])
        expect(admin.ttl("symple:session:t")).to be_between(490, 500)
      end

      it "returns false for a missing session" do
        expect(session.update("ghost", { name: "x" })).to be(false)
        expect(admin.exists?("symple:session:ghost")).to be(false)
      end
    end
  end

  on_every_redis do
    describe "#ttl" do
      it "gives seconds left, infinity for never, nil for none" do
        session.set("a", { user: "u" }, ttl: 100)
        session.set("b", { user: "u" })
        expect(session.ttl("a")).to be_between(90, 100)
        expect(session.ttl("b")).to eq(Float::INFINITY)
        expect(session.ttl("c")).to be_nil
      end
    end
  end

  on_every_redis do
    describe "#list, #delete_user and #cleanup" do
      it "lists a user's live sessions with their expiry" do
        session.set("a1", { user: "alice" }, ttl: 100)
        session.set("a2", { user: "alice" })
        session.set("b1", { user: "bob" })
        list = session.list("alice").sort_by(&:token)
        expect(list.map(&:token)).to eq(%w[a1 a2])
        expect(list[0].expires_at).to be_within(15).of(Time.now + 100)
        expect(list[1].expires_at).to be_nil
        expect(session.list("nobody")).to eq([])
      end

      it "deletes every session of a user and no one else's" do
        session.set("a1", { user: "alice" })
        session.set("a2", { user: "alice" }, ttl: 60)
        session.set("b1", { user: "bob" })
        expect(session.delete_user("alice")).to eq(2)
        expect(session.exists?("a1") || session.exists?("a2")).to be(false)
        expect(session.exists?("b1")).to be(true)
      end

      it "cleans up the bookkeeping of sessions that expired" do
        session.set("gone", { user: "alice" }, ttl: 1)
        session.set("kept", { user: "alice" })
        # Expire the key now instead of waiting: PEXPIRE 1 ms, then wait until Redis drops it.
        admin.pexpire("symple:session:gone", 1)
        wait_until("the session key to expire") { !admin.exists?("symple:session:gone") }
        # The bookkeeping says "due in 1 s"; cleanup looks only at entries that are due.
        wait_until("cleanup to remove the expired entry", timeout: 10) { session.cleanup == 1 }
        expect(admin.zrange("symple:{sessions}:user:alice", 0, -1)).to eq(["kept"])
      end
    end
  end

  describe "redis:" do
    it "takes a redis-rb client and uses its host, port, password and db" do
      admin.config(:set, "requirepass", "s3cr:t@x")
      client = Redis.new(host: "127.0.0.1", port: Support::RedisServer.instance.port, db: 5, password: "s3cr:t@x")
      described_class.new(redis: client).set("in-db-5", { user: "alice" })
      expect(client.exists?("symple:session:in-db-5")).to be(true)
      expect(Redis.new(url: redis_url, password: "s3cr:t@x", db: 0).exists?("symple:session:in-db-5")).to be(false)
    ensure
      Redis.new(url: redis_url, password: "s3cr:t@x").config(:set, "requirepass", "")
    end

    it "defaults to Symple.config.redis" do
      Symple.configure { |c| c.redis = Redis.new(url: redis_url, db: 2) }
      described_class.new.set("cfg", { user: "alice" })
      expect(Redis.new(url: redis_url, db: 2).exists?("symple:session:cfg")).to be(true)
    end
  end

  on_every_redis do
    describe "integer users (Rails ids)" do
      it "keeps an Integer user an integer in Redis, apart from the String of the same digits" do
        session.set("int", { user: 4242, name: "Four" }, ttl: 60)
        session.set("str", { user: "4242" }, ttl: 60)
        expect(admin.get("symple:session:int")).to eq('{"user":4242,"name":"Four"}')
        expect(session.get("int")).to eq("user" => 4242, "name" => "Four")
        expect(session.list(4242).map(&:token)).to eq(["int"])
        expect(session.list("4242").map(&:token)).to eq(["str"])
        expect(session.delete_user(4242)).to eq(1)
        expect(session.exists?("str")).to be(true)
        expect { session.list(4.2) }.to raise_error(Symple::InvalidSession, /String or an Integer/)
      end
    end
  end

  on_every_redis do
    describe "bad input" do
      it "requires a non-empty String or an Integer user, like the Rust store" do
        expect { session.set("t", {}) }.to raise_error(Symple::InvalidSession, /no `user`/)
        expect { session.set("t", { user: 4.5 }) }.to raise_error(Symple::InvalidSession, /`user` must be a string or an integer/)
        expect { session.set("t", { user: 2**53 }) }.to raise_error(Symple::InvalidSession, /beyond/)
        expect { session.set("t", { user: "" }) }.to raise_error(Symple::InvalidSession, /`user` is empty/)
        expect { session.set("t", { user: "a", rooms: "r" }) }.to raise_error(Symple::InvalidSession, /`rooms` must be an array/)
        expect { session.set("t", { user: "a", rooms: [1] }) }.to raise_error(Symple::InvalidSession, /non-empty strings/)
        expect(redis_server.keys("symple:*")).to eq([])
      end

      it "refuses data that is not a Hash" do
        expect { session.set("t", [1]) }.to raise_error(Symple::InvalidMessage, /must be a Hash, not Array/)
      end

      it "refuses tokens that could break or widen a key" do
        ["", "a b", "a*", "a\nb", "x" * 257].each do |bad|
          expect { session.set(bad, { user: "a" }) }.to raise_error(Symple::InvalidSession, /token/)
        end
        expect { session.get(42) }.to raise_error(Symple::InvalidSession, /token must be a String, not Integer/)
      end

      it "refuses TTLs that are not positive seconds" do
        expect { session.set("t", { user: "a" }, ttl: 0) }.to raise_error(Symple::InvalidSession, /positive/)
        expect { session.set("t", { user: "a" }, ttl: -5) }.to raise_error(Symple::InvalidSession, /positive/)
        expect { session.set("t", { user: "a" }, ttl: "1h") }.to raise_error(Symple::InvalidSession, /TTL is a number of seconds.*"1h"/)
        expect { session.set("t", { user: "a" }, ttl: 2**64) }.to raise_error(Symple::InvalidSession, /TTL/)
        expect { session.touch("t", ttl: nil) }.to raise_error(Symple::InvalidSession, /touch needs a ttl/)
      end

      it "names the key when a stored value is not a JSON object" do
        admin.set("symple:session:junk", "[1,2]")
        expect { session.get("junk") }.to raise_error(Symple::InvalidSession, /symple:session:junk is not a JSON object/)
        admin.set("symple:session:junk", "{oops")
        expect { session.get("junk") }.to raise_error(Symple::InvalidSession, /symple:session:junk is not JSON/)
      end

      it "raises ConnectionError naming the URL, password masked, when Redis is down" do
        port = Support::RedisServer.free_port
        expect { described_class.new(redis: "redis://:hunter2@127.0.0.1:#{port}/0") }
          .to raise_error(Symple::ConnectionError, %r{redis://:\*\*\*@127\.0\.0\.1:#{port}/0}) { |e|
            expect(e.message).not_to include("hunter2")
          }
      end
    end
  end
end
