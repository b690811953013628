# frozen_string_literal: true

require "msgpack"
require "timeout"

module Support
  # A redis-rb subscriber on its own thread: it is subscribed when `new` returns, collects
  # every message, and stops when told on its control channel.
  class Subscriber
    Message = Struct.new(:channel, :payload) do
      def json
        JSON.parse(payload)
      end

      # A Socket.IO adapter packet: [uid, packet, opts].
      def msgpack
        MessagePack.unpack(payload)
      end
    end

    # `conn`: a URL, or redis-rb options.
    def initialize(conn, channels: [], patterns: [])
      @conn = conn.is_a?(Hash) ? conn : { url: conn }
      @redis = Redis.new(**@conn)
      @control = "__spec_stop__#{object_id}"
      @messages = []
      @lock = Mutex.new
      ready = Queue.new
      wanted = channels.size + patterns.size + 1
      raise ArgumentError, "channels or patterns, not both" if channels.any? && patterns.any?

      @thread = Thread.new do
        count = 0
        subscribed = ->(*) { ready << true if (count += 1) == wanted }
        if patterns.empty?
          @redis.subscribe(*channels, @control) do |on|
            on.subscribe(&subscribed)
            on.message { |channel, payload| receive(channel, payload) { @redis.unsubscribe } }
          end
        else
          # The control channel is a pattern too (it has no glob characters, so it matches
          # only itself): one kind of subscription, ended by one punsubscribe.
          @redis.psubscribe(*patterns, @control) do |on|
            on.psubscribe(&subscribed)
            on.pmessage { |_pattern, channel, payload| receive(channel, payload) { @redis.punsubscribe } }
          end
        end
      end
      Timeout.timeout(10) { ready.pop }
    end

    def messages
      @lock.synchronize { @messages.dup }
    end

    def receive(channel, payload)
      if channel == @control
        yield
      else
        @lock.synchronize { @messages << Message.new(channel, payload) }
      end
    end

    def count
      @lock.synchronize { @messages.size }
    end

    # Waits (bounded) until at least n messages have arrived; returns them all.
    def wait_for(n, timeout: 20)
      Wait.wait_until("#{n} messages (have #{count})", timeout: timeout) { count >= n }
      messages
    end

    def stop
      Redis.new(**@conn).tap do |r|
        r.publish(@control, "stop")
        r.close
      end
      @thread.join(10) || @thread.kill
      @redis.close
    end
  end
end
