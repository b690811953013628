# frozen_string_literal: true

require "socket"

module Support
  # A TCP relay on a free loopback port in front of a real Redis: a request chunk that carries
  # MARK waits until #release, so the call that sent it stays stuck on its connection for as
  # long as a spec wants while every other connection flows. Stopped (sockets closed) by #stop.
  class Relay
    MARK = "STALL-ME"

    attr_reader :port

    def initialize(upstream_port)
      @server = TCPServer.new("127.0.0.1", 0)
      @port = @server.addr[1]
      @upstream = upstream_port
      @lock = Mutex.new
      @changed = ConditionVariable.new
      @open = false
      @holding = 0
      @accepted = 0
      @sockets = []
      @acceptor = Thread.new { accept_loop }
    end

    def url
      "redis://127.0.0.1:#{port}"
    end

    # Connections accepted so far.
    def accepted
      @lock.synchronize { @accepted }
    end

    # Waits (bounded) until a marked request is held.
    def wait_holding(timeout: 60)
      @lock.synchronize do
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
        while @holding.zero?
          left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
          raise "gave up after #{timeout} s waiting for the marked request" if left <= 0

          @changed.wait(@lock, left)
        end
      end
    end

    def release
      @lock.synchronize do
        @open = true
        @changed.broadcast
      end
    end

    def stop
      release
      @acceptor.kill
      @server.close
      @lock.synchronize { @sockets.each { |s| s.close unless s.closed? } }
    end

    private

    def accept_loop
      loop do
        client = @server.accept
        upstream = TCPSocket.new("127.0.0.1", @upstream)
        @lock.synchronize do
          @accepted += 1
          @sockets.push(client, upstream)
        end
        Thread.new { pump(upstream, client, gated: false) }
        Thread.new { pump(client, upstream, gated: true) }
      end
    rescue IOError, SystemCallError
      nil
    end

    def pump(from, to, gated:)
      tail = String.new(encoding: Encoding::BINARY)
      loop do
        chunk = from.readpartial(65_536)
        if gated
          tail << chunk
          hold if tail.include?(MARK)
          tail = tail.byteslice([tail.bytesize - (MARK.bytesize - 1), 0].max..)
        end
        to.write(chunk)
      end
    rescue IOError, SystemCallError
      to.close_write rescue nil # rubocop:disable Style/RescueModifier
    end

    def hold
      @lock.synchronize do
        @holding += 1
        @changed.broadcast
        @changed.wait(@lock, 60) until @open
        @holding -= 1
      end
    end
  end
end
