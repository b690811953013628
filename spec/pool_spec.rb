# frozen_string_literal: true

# Puma's threads share one emitter and one session store: with `pool_size`, a call takes a
# connection no other call is using, so one call stuck on Redis does not hold the others up.
# A relay in front of the real Redis (spec/support/relay.rb) keeps the marked call stuck for as
# long as the example wants; with a pool of one, the same setup shows the others waiting.
RSpec.describe "connection pool" do
  let(:relay) { Support::Relay.new(redis_server.port) }
  after { relay.stop }

  # Starts the call that gets stuck and waits (bounded) until the relay holds it.
  def stuck
    thread = Thread.new { yield; :returned }
    relay.wait_holding
    thread
  end

  it "8 threads: 7 emit while the eighth waits on its connection, and every emit arrives" do
    emitter = Symple::Emitter.new(redis: relay.url, target: :native, pool_size: 8, response_timeout: 60)
    subscribed(channels: ["symple:broadcast"]) do |sub|
      held = stuck { emitter.to("room").send({ mark: Support::Relay::MARK }) }
      others = Array.new(7) { |t| Thread.new { 50.times { |i| emitter.to("room").send({ t: t, i: i }) } } }
      others.each { |t| expect(t.join(60)).to be(t), "a thread was held up by the stuck connection" }
      expect(held).to be_alive
      got = sub.wait_for(350).map { |m| m.json["data"] }
      expect(got.map { |d| d.values_at("t", "i") }.sort).to eq((0...7).flat_map { |t| (0...50).map { |i| [t, i] } })

      relay.release
      expect(held.value).to eq(:returned)
      expect(sub.wait_for(351).last.json["data"]).to eq("mark" => Support::Relay::MARK)
      expect(relay.accepted).to be_between(2, 8)
    end
  end

  it "session calls go on while one is stuck" do
    session = Symple::Session.new(redis: relay.url, pool_size: 4, response_timeout: 60)
    held = stuck { session.create({ user: Support::Relay::MARK }, ttl: 60) }
    others = Array.new(3) do |t|
      Thread.new do
        10.times do
          token = session.create({ user: "user-#{t}" }, ttl: 60)
          raise "lost #{token}" unless session.get(token)

          session.delete(token)
        end
      end
    end
    others.each { |t| expect(t.join(60)).to be(t), "a session call was held up by the stuck connection" }
    expect(held).to be_alive
    # Asked past the relay (a request naming the user would be held too).
    index = "symple:{sessions}:user:#{Support::Relay::MARK}"
    expect(admin.zcard(index)).to eq(0)

    relay.release
    expect(held.join(60)).to be(held)
    expect(admin.zcard(index)).to eq(1)
    expect(session.list(Support::Relay::MARK).size).to eq(1)
  end

  it "with pool_size 1 the others wait (the control)" do
    emitter = Symple::Emitter.new(redis: relay.url, target: :native, pool_size: 1, response_timeout: 60)
    subscribed(channels: ["symple:broadcast"]) do |sub|
      held = stuck { emitter.to("room").send(Support::Relay::MARK) }
      behind = Thread.new { emitter.to("room").send("behind") }
      # It cannot finish while the only connection is stuck, however long this waits.
      expect(behind.join(0.5)).to be_nil
      expect(sub.count).to eq(0)

      relay.release
      [held, behind].each { |t| expect(t.join(60)).to be(t) }
      expect(sub.wait_for(2).map { |m| m.json["data"] }).to eq([Support::Relay::MARK, "behind"])
      expect(relay.accepted).to eq(1)
    end
  end

  it "takes its size from the configuration, checked" do
    expect { Symple::Emitter.new(pool_size: 0) }.to raise_error(Symple::ConfigurationError, /pool_size/)
    expect { Symple::Session.new(pool_size: 65) }.to raise_error(Symple::ConfigurationError, /pool_size/)
  end
end
