# frozen_string_literal: true

module Support
  module Helpers
    def redis_url
      RedisServer.instance.url
    end

    def admin
      RedisServer.instance.admin
    end

    # Runs the block with a subscriber, stopped afterwards.
    def subscribed(channels: [], patterns: [])
      sub = Subscriber.new(redis_url, channels: channels, patterns: patterns)
      yield sub
    ensure
      sub&.stop
    end

    def native_emitter(**opts)
      Symple::Emitter.new(redis: redis_url, target: :native, **opts)
    end

    def socketio_emitter(**opts)
      Symple::Emitter.new(redis: redis_url, target: :socketio, **opts)
    end

    # Runs the block with these environment variables (nil: unset), then restores them.
    def with_env(vars)
      old = vars.keys.to_h { |k| [k, ENV[k]] }
      vars.each { |k, v| ENV[k] = v }
      yield
    ensure
      old.each { |k, v| ENV[k] = v }
    end

    # Commands Redis has run, by name (from INFO commandstats).
    def calls(command)
      admin.info("commandstats").fetch(command, {}).fetch("calls", 0).to_i
    end
  end
end
