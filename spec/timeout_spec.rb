# frozen_string_literal: true

require "socket"

# A Redis that accepts connections and never answers: every call fails within the configured
# timeout with a message that says "timed out" (not "Resource temporarily unavailable").
RSpec.describe "a Redis that never answers" do
  around do |example|
    @silent = TCPServer.new("127.0.0.1", 0)
    accepted = []
    acceptor = Thread.new { loop { accepted << @silent.accept } }
    example.run
  ensure
    acceptor&.kill
    accepted&.each(&:close)
    @silent&.close
  end

  let(:url) { "redis://127.0.0.1:#{@silent.addr[1]}" }

  def timed
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    error = begin
      yield
      nil
    rescue Symple::Error => e
      e
    end
    [error, Process.clock_gettime(Process::CLOCK_MONOTONIC) - started]
  end

  it "fails an emitter and a session store at connect with 'timed out', bounded by the timeout" do
    # Connecting asks the server a first question (is it a cluster node?), so a silent one is
    # found at once rather than at the first emit.
    error, took = timed { Symple::Emitter.new(redis: url, target: :native, connect_timeout: 0.5, response_timeout: 0.5) }
    expect(error).to be_a(Symple::ConnectionError)
    expect(error.message).to include("timed out").and include(url)
    expect(error.message).not_to include("os error 11")
    # Generous bounds (a shared machine): the point is one timeout, not one per reply.
    expect(took).to be < 10

    error, took = timed { Symple::Session.new(redis: url, connect_timeout: 0.5, response_timeout: 0.5) }
    expect(error).to be_a(Symple::ConnectionError)
    expect(error.message).to include("timed out")
    expect(took).to be < 10
  end

  it "fails an emit and a batch to a Redis that stops answering with 'timed out', one timeout each" do
    emitter = Symple::Emitter.new(redis: redis_url, target: :native, response_timeout: 0.5)
    # Paused, Redis reads the commands and answers none until the pause ends by itself.
    admin.call("CLIENT", "PAUSE", 2000, "ALL")
    error, took = timed { emitter.to("a").send(1) }
    expect(error).to be_a(Symple::ConnectionError)
    expect(error.message).to include("timed out")
    expect(took).to be < 10
    error, took = timed { emitter.to("a").emit_batch(Array.new(500) { |i| { type: "message", data: i } }) }
    expect(error.message).to include("timed out")
    expect(took).to be < 10
  end

  it "is logged from a model callback, and the row stays committed" do
    Support::Database.setup
    io = StringIO.new
    Symple.configure do |c|
      c.redis = url
      c.target = :native
      c.response_timeout = 0.5
      c.logger = Logger.new(io)
    end
    post = Post.create!(title: "saved")
    expect(Post.exists?(post.id)).to be(true)
    expect(io.string).to match(/broadcast on create for Post##{post.id} failed: Symple::ConnectionError: .*timed out/)
  end
end
