# frozen_string_literal: true

module Symple
  # Settings used when an Emitter or a Session is created without them, set with
  # `Symple.configure { |c| ... }` or, in Rails, `config.symple.*`.
  class Configuration
    TARGETS = %i[native socketio].freeze

    # A Redis URL or a redis-rb client; nil means SYMPLE_REDIS_URL, then REDIS_URL, then
    # redis://127.0.0.1:6379.
    attr_accessor :redis
    # :socketio (npm symple 2.x, any Socket.IO server with the Redis adapter) or :native
    # (this project's server and the v4 Node server, on symple:broadcast).
    attr_reader :target
    # Socket.IO adapter key and namespace.
    attr_accessor :key, :namespace
    # The `from` written into messages that have none.
    attr_accessor :from
    # true: emits return once queued; a background writer pipelines them (see Emitter#flush).
    attr_accessor :queued
    # Seconds.
    attr_accessor :connect_timeout, :response_timeout
    # Logger for failures that cannot be raised (after_commit pushes, flushes at exit and
    # before fork); nil means Rails.logger when present, else $stderr.
    attr_accessor :logger
    # What Symple::Broadcasts and Symple::SessionSync do when Redis fails after the row has
    # committed: :log (default; the commit stands, the error is logged and instrumented) or
    # :raise.
    attr_reader :callback_errors

    def initialize
      @redis = nil
      self.target = ENV.fetch("SYMPLE_TARGET", "socketio")
      @key = "symple"
      @namespace = "/"
      @from = "server"
      @queued = false
      @connect_timeout = 2.0
      @response_timeout = 5.0
      @logger = nil
      @callback_errors = :log
    end

    def target=(value)
      @target = Configuration.target(value)
    end

    def callback_errors=(value)
      unless %i[log raise].include?(value)
        raise ConfigurationError, "callback_errors must be :log or :raise, not #{value.inspect}"
      end

      @callback_errors = value
    end

    # Checks a target name; accepts Symbols and Strings.
    def self.target(value)
      sym = value.respond_to?(:to_sym) ? value.to_sym : value
      return sym if TARGETS.include?(sym)

      raise ConfigurationError, "unknown target #{value.inspect}: use :native or :socketio"
    end

    # Checks a timeout and returns it as a Float.
    def self.seconds(name, value)
      f = Float(value, exception: false) if value.is_a?(Numeric) || value.respond_to?(:to_f)
      return f if f&.positive? && f.finite?

      raise ConfigurationError, "#{name} must be a positive number of seconds, not #{value.inspect}"
    end
  end
end
