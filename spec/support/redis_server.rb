# frozen_string_literal: true

require "socket"

module Support
  # One redis-server for the whole run, on a free loopback port, with persistence off.
  # Stopped by PID at exit, by the process that started it only (forked children run
  # at_exit handlers too).
  class RedisServer
    attr_reader :port, :pid

    def self.instance
      @instance ||= new.tap(&:start)
    end

    def self.free_port
      s = TCPServer.new("127.0.0.1", 0)
      s.addr[1]
    ensure
      s&.close
    end

    def start
      @port = RedisServer.free_port
      @owner = Process.pid
      @pid = Process.spawn("redis-server", "--port", @port.to_s, "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no", out: File::NULL, err: File::NULL)
      at_exit { stop if Process.pid == @owner }
      Wait.wait_until("redis-server on port #{@port}") do
        admin.ping == "PONG"
      rescue Redis::CannotConnectError
        nil
      end
    end

    def stop
      Process.kill(:TERM, @pid)
      Process.wait(@pid)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    end

    def url
      "redis://127.0.0.1:#{@port}"
    end

    # A redis-rb client for checks and set-up; a new one per process.
    def admin
      @admin = nil if @admin_pid != Process.pid
      @admin_pid = Process.pid
      @admin ||= Redis.new(url: url)
    end

    def client
      Redis.new(url: url)
    end
  end
end
