# frozen_string_literal: true

require "open3"

module Support
  # tests/interop/harness.js: Socket.IO servers sharing one Redis (npm's symple@2.1.1, or with
  # `kind:` socket.io 4.8 with the classic, sharded or Streams adapter: SERVER_KIND in
  # tests/interop/README.md) and socket.io-client clients in one Node process, driven with
  # JSON lines. Every wait is bounded.
  class Harness
    DIR = File.expand_path("../../tests/interop", __dir__)

    def self.available?
      File.directory?(File.join(DIR, "node_modules", "symple"))
    end

    def initialize(redis_url, servers: 2, kind: "symple")
      raise "tests/interop/node_modules is missing: run script/setup (npm ci)" unless Harness.available?

      env = { "REDIS_URL" => redis_url, "SERVER_KIND" => kind }
      @stdin, @stdout, @wait = Open3.popen2(env, "node", "harness.js", servers.to_s,
                                            chdir: DIR, err: File::NULL)
      @events = []
      @next_id = 0
      line = read_until(60) { |l| %w[listening fatal].include?(l["event"]) } # a loaded machine is slow to start Node
      raise "harness failed to start: #{line["message"]}" if line["event"] == "fatal"
    end

    # Sends a command and returns its reply (matched by id).
    def call(timeout: 20, **cmd)
      id = (@next_id += 1)
      @stdin.puts(JSON.generate(cmd.merge(id: id)))
      @stdin.flush
      take(timeout) { |l| l["id"] == id }
    end

    def session(token, value)
      expect_ok(call(cmd: "session", token: token, value: value))
    end

    # Connects a client; returns its socket id, or raises with the harness's reply.
    def connect(name, user:, token:, server: 0, join: [])
      reply = call(cmd: "connect", name: name, server: server, user: user, token: token, join: join)
      raise "connect #{name} failed: #{reply}" unless reply["event"] == "connected"

      reply["sid"]
    end

    # The next `message` event for client `name`.
    def message_for(name, timeout: 20)
      take(timeout) { |l| l["event"] == "message" && l["name"] == name }["data"]
    end

    # All `message` events for `name` received so far, without waiting.
    def received(name)
      drain
      @events.select { |l| l["event"] == "message" && l["name"] == name }.map { |l| l["data"] }
    end

    def event_for(name, event, timeout: 20)
      take(timeout) { |l| l["event"] == event && l["name"] == name }
    end

    def quit
      @stdin.puts(JSON.generate(cmd: "quit"))
      @stdin.close
      Process.kill(:KILL, @wait.pid) unless @wait.join(10)
    rescue IOError, Errno::EPIPE, Errno::ESRCH
      nil
    end

    private

    def expect_ok(reply)
      raise "harness: #{reply}" unless reply["event"] == "ok"

      reply
    end

    # Removes and returns the first buffered or incoming line matching the block.
    def take(timeout, &match)
      if (i = @events.index(&match))
        return @events.delete_at(i)
      end

      read_until(timeout, &match)
    end

    def read_until(timeout)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      loop do
        left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
        raise "harness: nothing matching after #{timeout} s; seen #{@events.last(5)}" if left <= 0
        next unless IO.select([@stdout], nil, nil, left)

        raw = @stdout.gets
        raise "harness exited; seen #{@events.last(5)}" if raw.nil?

        line = JSON.parse(raw)
        return line if yield(line)

        @events << line
      end
    end

    def drain
      while IO.select([@stdout], nil, nil, 0)
        raw = @stdout.gets
        break if raw.nil?

        @events << JSON.parse(raw)
      end
    end
  end
end
