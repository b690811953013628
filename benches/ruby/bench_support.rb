# frozen_string_literal: true

# What emit_bench.rb stands on: a private redis-server (the specs' fixture), optional CPU pinning, the
# redis-benchmark baseline, and median-of-rounds ratios.
require "open3"
require "socket"
require "redis"
require_relative "../../spec/support/wait"
require_relative "../../spec/support/redis_server"

module BenchSupport
  module_function

  def need(program, package)
    return if system("command -v #{program} >/dev/null 2>&1")

    abort "#{program} not found: install the Debian package #{package}"
  end

  # Same placement choices as the Rust bench (benches/emit.rs): on small VMs a wake-up across
  # vCPUs can cost more than the work, so unpinned rounds may compare different regimes.
  # SYMPLE_BENCH_PIN=same: Redis and every client on CPU 0; split: Redis on CPU 0, clients on
  # CPU 1; unset: the scheduler decides.
  class Pin
    attr_reader :mode

    def initialize(mode = ENV.fetch("SYMPLE_BENCH_PIN", "off"))
      @mode = mode.empty? ? "off" : mode
      abort "SYMPLE_BENCH_PIN=#{@mode}: use off, same or split" unless %w[off same split].include?(@mode)
      BenchSupport.need("taskset", "util-linux") unless off?
    end

    def off? = @mode == "off"
    def server_cpu = off? ? nil : 0
    def client_cpu = { "same" => 0, "split" => 1 }[@mode]

    def command(cpu, *argv)
      cpu ? ["taskset", "-c", cpu.to_s, *argv] : argv
    end

    # Pins this Ruby process (all its threads, including the extension's writer thread).
    def this_process
      return unless client_cpu

      system("taskset", "-a", "-p", "-c", client_cpu.to_s, Process.pid.to_s, out: File::NULL) ||
        abort("taskset could not pin the bench")
    end

    def describe
      { "off" => "unpinned (SYMPLE_BENCH_PIN=same|split pins)",
        "same" => "pinned: redis-server and clients on CPU 0 (SYMPLE_BENCH_PIN=same)",
        "split" => "pinned: redis-server on CPU 0, clients on CPU 1 (SYMPLE_BENCH_PIN=split)" }.fetch(@mode)
    end
  end

  # The specs' Redis fixture (spec/support/redis_server.rb), pinned as the bench says.
  def redis_server(pin)
    Support::RedisServer.new(:plain, launcher: pin.command(pin.server_cpu)).tap(&:start)
  end

  # `redis-benchmark -c 1 -P <depth>` publishing one payload on one channel.
  class Baseline
    def initialize(pin, port, channel, payload)
      @pin = pin
      @port = port
      @channel = channel
      @payload = payload
    end

    def rate(pipeline, n)
      argv = @pin.command(@pin.client_cpu, "redis-benchmark", "-h", "127.0.0.1", "-p", @port.to_s,
                          "-c", "1", "-P", pipeline.to_s, "-n", n.to_s, "--csv", "PUBLISH", @channel, @payload)
      out, status = Open3.capture2e(*argv)
      abort "redis-benchmark failed: #{out}" unless status.success?
      # --csv: a header, then a row whose first field is the command line (which may hold
      # commas); the rate is the 7th field from the right.
      # The command line echoes the payload, which need not be UTF-8: read bytes.
      row = out.b.lines.reverse.find { |l| !l.strip.empty? }
      Float(row.split(",".b)[-7].delete('"'))
    end
  end

  def median(values)
    s = values.sort
    s.size.odd? ? s[s.size / 2] : (s[s.size / 2 - 1] + s[s.size / 2]) / 2.0
  end

  # Messages per second of a block that handles n messages.
  def rate(n)
    GC.start
    t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    yield
    n / (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t)
  end
end
