# frozen_string_literal: true

RSpec.describe "threads" do
  it "8 threads x 1000 emits on one shared emitter all arrive" do
    emitter = native_emitter.to("room")
    subscribed(channels: ["symple:broadcast"]) do |sub|
      threads = Array.new(8) do |t|
        Thread.new { 1000.times { |i| emitter.send({ t: t, i: i }) } }
      end
      threads.each(&:join)
      got = sub.wait_for(8000, timeout: 60).map { |m| m.json["data"].values_at("t", "i") }
      expect(got.size).to eq(8000)
      expect(got.sort).to eq((0...8).flat_map { |t| (0...1000).map { |i| [t, i] } })
    end
  end

  it "8 threads x 1000 emits on one queued emitter all arrive after flush" do
    emitter = native_emitter(queued: true)
    subscribed(channels: ["symple:broadcast"]) do |sub|
      Array.new(8) { |t| Thread.new { 1000.times { |i| emitter.to("r").send([t, i]) } } }.each(&:join)
      emitter.flush
      got = sub.wait_for(8000, timeout: 60).map { |m| m.json["data"] }
      expect(got.sort).to eq((0...8).flat_map { |t| (0...1000).map { |i| [t, i] } })
    end
  end

  describe "the GVL is released while a call waits on Redis" do
    # CLIENT PAUSE WRITE holds PUBLISH and scripts (not CLIENT LIST) until CLIENT UNPAUSE, so
    # a call is known to be waiting on Redis for as long as we like. While it waits, another
    # Ruby thread must keep running; had the call kept the GVL, nothing else could run until
    # the pause ended and the call had returned.
    def expect_progress_while_blocked(pending_cmd)
      progress = 0
      ticker = Thread.new { loop { progress += 1; Thread.pass } }
      admin.call("CLIENT", "PAUSE", 30_000, "WRITE")
      call = Thread.new { yield; :returned }
      wait_until("the call to be held by the pause") do
        admin.call("CLIENT", "LIST").lines.any? { |l| l.include?("cmd=#{pending_cmd}") && !l.include?("id=#{admin.call("CLIENT", "ID")} ") }
      end
      seen = progress
      wait_until("the other thread to make progress") { progress >= seen + 1000 }
      expect(call).to be_alive # still waiting on Redis: the progress happened meanwhile
      admin.call("CLIENT", "UNPAUSE")
      expect(call.value).to eq(:returned)
    ensure
      admin.call("CLIENT", "UNPAUSE")
      ticker&.kill
    end

    it "during emit" do
      emitter = native_emitter.to("r")
      subscribed(channels: ["symple:broadcast"]) do |sub|
        expect_progress_while_blocked("publish") { emitter.send("held") }
        expect(sub.wait_for(1).first.json["data"]).to eq("held")
      end
    end

    it "during a session write" do
      session = Symple::Session.new
      expect_progress_while_blocked("eval") { session.set("t", { user: "a" }) }
      expect(session.get("t")).to eq("user" => "a")
    end
  end
end
