# frozen_string_literal: true

module Support
  module Helpers
    # The Redis of the running example: the kind its `redis_kind:` metadata names (set by
    # `on_every_redis`), else the plain one.
    def redis_server
      RedisServer.instance(RSpec.current_example&.metadata&.fetch(:redis_kind, nil) || :plain)
    end

    def redis_url
      redis_server.url
    end

    def admin
      redis_server.admin
    end

    # Runs the block with a subscriber (on the first node: PUBLISH reaches it from any node of
    # a cluster), stopped afterwards.
    def subscribed(channels: [], patterns: [])
      sub = Subscriber.new(redis_server.node_options, channels: channels, patterns: patterns)
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

    # Commands Redis has run, by name (INFO commandstats, over every node).
    def calls(command)
      redis_server.calls(command)
    end
  end

  # `on_every_redis { ... }` in a spec file: the examples inside run once on each kind of
  # Redis (plain, TLS, ACL user, cluster), each kind in its own context.
  module EveryRedis
    def on_every_redis(&block)
      RedisServer.kinds.each do |kind|
        context("on the #{kind} Redis", redis_kind: kind, &block)
      end
    end
  end
end
