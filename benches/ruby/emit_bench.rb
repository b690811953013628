# frozen_string_literal: true

# Ruby emit throughput against a private redis-server, as ratios against baselines run side
# by side in the same run: plain redis-rb doing the same work (JSON on symple:broadcast,
# msgpack gem on the Socket.IO channel), and redis-benchmark -c 1 publishing the same bytes.
#
#   rake bench        (or: rake compile && ruby benches/ruby/emit_bench.rb)
#
# Needs redis-server and redis-benchmark (Debian redis-server, redis-tools) and Debian's
# ruby-redis and ruby-msgpack. Rounds alternate baseline and ours; each figure is the median
# of per-round ratios, since a shared machine drifts. Missed targets are printed, never
# turned into a failing exit status. SYMPLE_BENCH_ROUNDS (default 3), SYMPLE_BENCH_PIN
# (off | same | split, see bench_support.rb).
$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "json"
require "msgpack"
require "redis"
require "securerandom"
require "symple"
require_relative "bench_support"

B = BenchSupport
ROUNDS = Integer(ENV.fetch("SYMPLE_BENCH_ROUNDS", "3"))
BLOCKING_N = 20_000 # about a second per round when every PUBLISH waits for its reply
PIPELINED_N = 100_000
BATCH = 1000
PAYLOAD_BYTES = 200

B.need("redis-server", "redis-server")
B.need("redis-benchmark", "redis-tools")
pin = B::Pin.new
pin.this_process
server = B.redis_server(pin)
url = server.url

# A chat message whose native packet is about PAYLOAD_BYTES once `emit` adds an id; the same
# one the Rust bench uses. It carries `to`, so both paths route by it.
def message(text)
  { "type" => "message", "from" => "rails|worker-1", "to" => "alice", "subtype" => "chat",
    "data" => { "text" => text, "room" => "team-a", "n" => 42 } }
end
probe = JSON.generate(message("").merge("id" => SecureRandom.uuid)).bytesize
filler = "Build 4812 passed on main; deploying to staging in five minutes. " * 10
MESSAGE = message(filler[0, [PAYLOAD_BYTES - probe, 0].max]).freeze

# Plain redis-rb doing what `emit` does: fill in the id, encode, publish.
ENCODERS = {
  native: ["symple:broadcast", ->(m) { JSON.generate(m.merge("id" => SecureRandom.uuid)) }],
  socketio: ["symple#/#alice#", lambda { |m|
    MessagePack.pack(["emitter", { "type" => 2, "data" => ["message", m.merge("id" => SecureRandom.uuid)], "nsp" => "/" },
                      { "rooms" => ["alice"], "flags" => {}, "except" => [] }])
  }]
}.freeze

Result = Struct.new(:label, :ours, :redis_rb, :bench, :bench_depth, :goal_rb, :goal_bench) do
  def print_row
    r_rb = B.median(ours.zip(redis_rb).map { |o, b| o / b })
    r_bench = B.median(ours.zip(bench).map { |o, b| o / b })
    ok = ->(r, goal) { r >= goal ? "ok" : "MISSED (target #{goal}x)" }
    puts format("  %-22s ours %9.0f/s | redis-rb %9.0f/s  %5.2fx %-20s | redis-benchmark -P %-2d %9.0f/s  %5.2fx %s",
                label, B.median(ours), B.median(redis_rb), r_rb, ok.call(r_rb, goal_rb), bench_depth,
                B.median(bench), r_bench, ok.call(r_bench, goal_bench))
  end
end

def copies(n) = Array.new(n) { MESSAGE.dup }

puts "symple Ruby emit bench: redis-server on #{url}, #{ROUNDS} alternating rounds, medians; #{pin.describe}"
puts "ruby #{RUBY_VERSION}, redis-rb #{Redis::VERSION}, msgpack #{MessagePack::VERSION}, symple #{Symple::VERSION}"

rb = Redis.new(url: url)
%i[native socketio].each do |target|
  channel, encode = ENCODERS.fetch(target)
  blocking = Symple::Emitter.new(redis: url, target: target)
  queued = Symple::Emitter.new(redis: url, target: target, queued: true)
  sample = blocking.packet(MESSAGE)
  raise "channel mismatch: #{sample[0]}" unless sample[0] == channel

  # A NUL cannot travel in argv: then redis-benchmark publishes JSON of the same length.
  payload = sample[1].include?("\0") ? JSON.generate(MESSAGE).ljust(sample[1].bytesize)[0, sample[1].bytesize] : sample[1]
  bench = B::Baseline.new(pin, server.port, payload.include?("\0") ? "symple:broadcast" : channel, payload)
  puts
  puts "#{target} target: #{sample[1].bytesize} B #{target == :native ? "JSON" : "msgpack"} on #{channel}" \
       "#{" (redis-benchmark: same-length JSON, the msgpack has a NUL)" if sample[1].include?("\0")}"

  figures = [
    ["emit (awaits reply)", BLOCKING_N, 1, 1.2, 0.9,
     ->(msgs) { msgs.each { |m| blocking.emit(m) } },
     ->(msgs) { msgs.each { |m| rb.publish(channel, encode.call(m)) } }],
    ["emit_batch x#{BATCH}", PIPELINED_N, 16, 3.0, 0.8,
     ->(msgs) { msgs.each_slice(BATCH) { |s| blocking.emit_batch(s) } },
     ->(msgs) { msgs.each_slice(BATCH) { |s| rb.pipelined { |p| s.each { |m| p.publish(channel, encode.call(m)) } } } }],
    ["queued emit + flush", PIPELINED_N, 16, 3.0, 0.8,
     lambda { |msgs|
       msgs.each { |m| queued.emit(m) }
       queued.flush
     },
     ->(msgs) { msgs.each_slice(BATCH) { |s| rb.pipelined { |p| s.each { |m| p.publish(channel, encode.call(m)) } } } }]
  ]
  figures.each do |label, n, depth, goal_rb, goal_bench, ours_proc, rb_proc|
    r = Result.new(label, [], [], [], depth, goal_rb, goal_bench)
    ROUNDS.times do
      r.bench << bench.rate(depth, n)
      msgs = copies(n)
      r.redis_rb << B.rate(n) { rb_proc.call(msgs) }
      msgs = copies(n)
      r.ours << B.rate(n) { ours_proc.call(msgs) }
    end
    r.print_row
  end
end
puts
puts "command: rake bench   (ruby benches/ruby/emit_bench.rb after rake compile)"
