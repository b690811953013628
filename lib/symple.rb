# frozen_string_literal: true

require "logger"
require_relative "symple/version"
require_relative "symple/errors"
require_relative "symple/native"
require_relative "symple/configuration"
require_relative "symple/redis_url"
require_relative "symple/instrumentation"
require_relative "symple/session"
require_relative "symple/emitter"
require_relative "symple/process_hooks"

# Push Symple real-time messages (chat, presence, commands, events, WebRTC signalling) from
# Ruby through Redis to Symple servers, and manage the sessions they authenticate against.
# The work is done by the Rust crate `symple` through a native extension.
#
#   Symple.configure do |c|
#     c.redis = ENV["REDIS_URL"]     # or a redis-rb client
#     c.target = :socketio           # or :socketio_sharded, :socketio_streams, :native
#     c.from = "rails|web"
#   end
#   Symple.emitter.to(user.id).send({ text: "hi" })
#   Symple.session.set(token, { user: user.username }, ttl: 1.week)
module Symple
  autoload :Broadcasts, "symple/broadcasts"
  autoload :SessionSync, "symple/session_sync"
  autoload :Job, "symple/jobs"
  autoload :PushJob, "symple/jobs"
  autoload :SessionSyncJob, "symple/jobs"
  autoload :Testing, "symple/testing"
  autoload :LogSubscriber, "symple/log_subscriber"

  LOCK = Mutex.new
  private_constant :LOCK

  class << self
    # The settings new emitters and sessions start from.
    def config
      @config || LOCK.synchronize { @config ||= Configuration.new }
    end

    # Changes the settings (target settings are checked at once, raising ConfigurationError);
    # the shared emitter and session are rebuilt on next use.
    def configure
      yield config
      reset!
      config.check!
    end

    # The shared emitter, built from the settings on first use.
    def emitter
      @emitter || LOCK.synchronize { @emitter ||= @test_backend ? @test_backend.emitter : Emitter.new }
    end

    # The shared session store, built from the settings on first use.
    def session
      @session || LOCK.synchronize { @session ||= @test_backend ? @test_backend.session : Session.new }
    end

    # Used by Symple::Testing: an object whose #emitter and #session replace the real ones
    # (nil: the real ones again).
    def test_backend=(backend)
      LOCK.synchronize { @test_backend = backend }
      reset!
    end

    # config.logger, else Rails.logger, else warnings and errors on $stderr.
    def logger
      config.logger ||
        (defined?(::Rails) && ::Rails.respond_to?(:logger) && ::Rails.logger) ||
        @default_logger ||= Logger.new($stderr, level: Logger::WARN)
    end

    # Forgets the shared emitter and session (the old emitter's queue is flushed first).
    def reset!
      old = LOCK.synchronize do
        e = @emitter
        @emitter = @session = nil
        e
      end
      old&.flush
      nil
    end
  end
end

Symple::ProcessHooks.install
require_relative "symple/railtie" if defined?(Rails::Railtie)
