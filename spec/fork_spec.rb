# frozen_string_literal: true

require "rbconfig"

RSpec.describe "fork and exit" do
  # Children leave with exit!: they must not run the parent's at_exit handlers (RSpec's, the
  # spec redis-server's). Each child reports through its exit status.
  def in_child
    fork do
      ok = begin
        yield
      rescue Exception => e # rubocop:disable Lint/RescueException
        warn "child failed: #{e.class}: #{e.message}"
        false
      end
      exit!(ok ? 0 : 1)
    end
  end

  %i[blocking queued].each do |mode|
    it "an emit from a forked child arrives and the parent still works (#{mode})" do
      emitter = native_emitter(queued: mode == :queued).to("room")
      subscribed(channels: ["symple:broadcast"]) do |sub|
        emitter.send("parent before")
        emitter.flush
        sub.wait_for(1)
        pid = in_child do
          emitter.send({ "child" => Process.pid })
          emitter.flush
          true
        end
        expect(wait_child(pid).exitstatus).to eq(0)
        emitter.send("parent after")
        emitter.flush
        data = sub.wait_for(3).map { |m| m.json["data"] }
        expect(data).to contain_exactly("parent before", { "child" => pid }, "parent after")
      end
    end
  end

  it "a pooled emitter busy in other threads at the fork works in the child, from several threads" do
    emitter = native_emitter(pool_size: 4).to("room")
    subscribed(channels: ["symple:broadcast"]) do |sub|
      stop = false
      busy = Array.new(3) { Thread.new { emitter.send("parent") until stop } }
      sub.wait_for(10)
      pid = in_child do
        Array.new(4) { |t| Thread.new { 5.times { |i| emitter.send({ "child" => [t, i] }) } } }.each(&:join)
        true
      end
      expect(wait_child(pid).exitstatus).to eq(0)
      stop = true
      busy.each(&:join)
      wait_until("the child's 20 emits") { sub.messages.map { |m| m.json["data"] }.grep(Hash).size == 20 }
      from_child = sub.messages.map { |m| m.json["data"] }.grep(Hash).map { |d| d["child"] }
      expect(from_child.sort).to eq((0...4).flat_map { |t| (0...5).map { |i| [t, i] } })
    end
  end

  it "a session store works in a forked child and in the parent" do
    session = Symple::Session.new
    session.set("p", { user: "parent" })
    pid = in_child { session.set("c", { user: "child" }) && session.get("p") == { "user" => "parent" } }
    expect(wait_child(pid).exitstatus).to eq(0)
    expect(session.get("c")).to eq("user" => "child")
  end

  it "queued packets are flushed before fork" do
    emitter = native_emitter(queued: true).to("room")
    before = calls("publish")
    20_000.times { |i| emitter.send(i) }
    # No flush: the fork hook must have flushed, so Redis has run every PUBLISH by the time
    # fork returns (a child that exits at once changes nothing).
    pid = fork { exit!(0) }
    after_fork = calls("publish")
    wait_child(pid)
    expect(after_fork - before).to eq(20_000)
  end

  it "queued packets are flushed at exit" do
    script = <<~RUBY
      require "symple"
      e = Symple::Emitter.new(redis: #{redis_url.dump}, target: :native, queued: true).to("room")
      20_000.times { |i| e.send(i) }
      # no flush: at_exit does it
    RUBY
    before = calls("publish")
    lib = File.expand_path("../lib", __dir__)
    ok = system(RbConfig.ruby, "-I", lib, "-e", script)
    expect(ok).to be(true)
    expect(calls("publish") - before).to eq(20_000)
  end

  it "a fork waits for a call in flight in another thread, so the child is never stuck" do
    # Another thread is inside a Redis call (held there by CLIENT PAUSE) on the same
    # connection the child will use. Forking at that moment would give the child a copy of
    # a connection lock that nobody will ever release; the fork gate makes the fork wait.
    emitter = native_emitter.to("room")
    subscribed(channels: ["symple:broadcast"]) do |sub|
      # Count connections whose last command is PUBLISH first: other emitters of this process
      # may show one already, and only a new one proves the held emit is in flight.
      publishing = -> { admin.call("CLIENT", "LIST").lines.count { |l| l.include?("cmd=publish") } }
      before = publishing.call
      admin.call("CLIENT", "PAUSE", 30_000, "WRITE")
      held = Thread.new { emitter.send("held") }
      wait_until("the emit to be held by the pause") { publishing.call > before }
      releaser = Thread.new do
        wait_until("the fork to wait at the gate") { Symple::Native.forking? }
        admin.call("CLIENT", "UNPAUSE")
      end
      pid = in_child do
        emitter.send("from child")
        true
      end
      expect(wait_child(pid).exitstatus).to eq(0)
      held.join
      releaser.join
      expect(sub.wait_for(2).map { |m| m.json["data"] }).to contain_exactly("held", "from child")
    ensure
      admin.call("CLIENT", "UNPAUSE")
    end
  end
end
