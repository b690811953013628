# frozen_string_literal: true

require "base64"
require "json"
require "securerandom"
require "socket"

module Support
  # A minimal WebSocket client (RFC 6455: the upgrade, masked text frames out, text, ping and
  # close frames in) for talking Symple to `symple server` from specs; Debian has no Ruby
  # WebSocket client. Every read is bounded.
  class WebSocket
    attr_reader :close_code

    def initialize(url)
      host, port = url.delete_prefix("ws://").split("/").first.split(":")
      @socket = TCPSocket.new(host, port.to_i)
      key = Base64.strict_encode64(SecureRandom.random_bytes(16))
      @socket.write("GET / HTTP/1.1\r\nHost: #{host}:#{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
                    "Sec-WebSocket-Key: #{key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
      head = +""
      head << read_bytes(1, 10) until head.end_with?("\r\n\r\n")
      raise "no WebSocket upgrade: #{head.lines.first}" unless head.start_with?("HTTP/1.1 101")
    end

    def send_json(value)
      payload = JSON.generate(value).b
      mask = SecureRandom.random_bytes(4)
      header = [0x81].pack("C")
      header << if payload.bytesize < 126
                  [0x80 | payload.bytesize].pack("C")
                elsif payload.bytesize < 65_536
                  [0x80 | 126, payload.bytesize].pack("Cn")
                else
                  [0x80 | 127, payload.bytesize].pack("CQ>")
                end
      masked = payload.bytes.each_with_index.map { |b, i| b ^ mask.getbyte(i % 4) }.pack("C*")
      @socket.write(header + mask + masked)
    end

    # The next JSON frame, or nil once the server closed (close_code says why).
    def next_json(timeout: 20)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      loop do
        left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
        raise "no frame within #{timeout} s" if left <= 0

        opcode, payload = read_frame(left)
        case opcode
        when 1 then return JSON.parse(payload)
        when 8
          @close_code = payload.bytesize >= 2 ? payload.unpack1("n") : 1005
          return nil
        when 9 then pong(payload)
        end
      end
    end

    # Frames until one matches (skipping others), or nil when the server closed first.
    def expect(timeout: 20)
      loop do
        frame = next_json(timeout: timeout)
        return frame if frame.nil? || yield(frame)
      end
    end

    # Every JSON frame that arrives within `quiet` seconds of the last one.
    def drain(quiet: 0.3)
      frames = []
      while IO.select([@socket], nil, nil, quiet)
        frame = next_json(timeout: 5)
        break if frame.nil?

        frames << frame
      end
      frames
    end

    def close
      @socket.close
    rescue IOError
      nil
    end

    private

    def read_frame(timeout)
      b0, b1 = read_bytes(2, timeout).unpack("CC")
      len = b1 & 0x7f
      len = read_bytes(2, timeout).unpack1("n") if len == 126
      len = read_bytes(8, timeout).unpack1("Q>") if len == 127
      [b0 & 0x0f, len.zero? ? +"" : read_bytes(len, timeout)]
    end

    def pong(payload)
      mask = SecureRandom.random_bytes(4)
      masked = payload.bytes.each_with_index.map { |b, i| b ^ mask.getbyte(i % 4) }.pack("C*")
      @socket.write([0x8a, 0x80 | payload.bytesize].pack("CC") + mask + masked)
    end

    def read_bytes(n, timeout)
      out = +""
      while out.bytesize < n
        raise "timed out reading from the server" unless IO.select([@socket], nil, nil, timeout)

        chunk = @socket.read_nonblock(n - out.bytesize, exception: false)
        raise EOFError, "the server closed the connection" if chunk.nil?
        next if chunk == :wait_readable

        out << chunk
      end
      out
    end
  end
end
