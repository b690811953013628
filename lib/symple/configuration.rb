# frozen_string_literal: true

module Symple
  # Settings used when an Emitter or a Session is created without them, set with
  # `Symple.configure { |c| ... }` or, in Rails, `config.symple.*`.
  class Configuration
    # :native, :socketio, :socketio_sharded, :socketio_streams ("socketio-sharded" etc. too).
    TARGETS = Native::TARGETS.map { |t| t.tr("-", "_").to_sym }.freeze

    # A Redis URL or a redis-rb client; nil means SYMPLE_REDIS_URL, then REDIS_URL, then
    # redis://127.0.0.1:6379.
    attr_accessor :redis
    # Which servers read the packets (default SYMPLE_TARGET, else :socketio):
    # :socketio         npm symple 2.x, any Socket.IO server with @socket.io/redis-adapter
    # :socketio_sharded Socket.IO servers with createShardedAdapter (Redis 7 sharded pub/sub)
    # :socketio_streams Socket.IO servers with @socket.io/redis-streams-adapter
    # :native           this project's server and the v4 Node server (symple:broadcast)
    # :native_rooms     this project's server: the channel of the message's one room
    # :native_history   this project's server with --history: a message to one room is kept
    #                   in the room's history, so clients recover it after a reconnect
    attr_reader :target
    # Socket.IO adapter key (the sharded adapter's channelPrefix) and namespace.
    attr_accessor :key, :namespace
    # :socketio_sharded: the adapter's subscriptionMode, :static, :dynamic (default) or
    # :dynamic_private.
    attr_accessor :subscription_mode
    # :socketio_streams: the adapter's streamName ("socket.io"), maxLen (10000) and
    # streamCount (1).
    attr_accessor :stream, :maxlen, :stream_count
    # :native_history: messages kept per room (1000) and seconds each is kept (600), as the
    # server's --history-size and --history-age.
    attr_accessor :history_size, :history_age
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
    # committed: :log (default; the commit stands, the error is logged and instrumented),
    # :retry (the same, and the push or the session sync is enqueued as an ActiveJob that
    # retries: Symple::PushJob, Symple::SessionSyncJob) or :raise.
    attr_reader :callback_errors
    # Whether a programmer's error in a model callback (Symple::InvalidMessage,
    # InvalidSession, Unsupported, ConfigurationError) raises at the caller of save (true) or
    # is logged like a Redis failure (false). Default: true in development and test (Rails.env,
    # else RAILS_ENV or RACK_ENV, else "development"), false elsewhere.
    attr_writer :strict
    # Redis connections a blocking emitter or session store may open (1 to 64, default 5), so
    # that threads (Puma's) do not wait for each other's round trips: a call takes a connection
    # no other call is using. Opened as calls first overlap; the first at once. A queued
    # emitter has one writer and one connection.
    attr_reader :pool_size
    # The ActiveJob queue of Symple::PushJob and Symple::SessionSyncJob.
    attr_accessor :job_queue

    def initialize
      @redis = nil
      self.target = ENV.fetch("SYMPLE_TARGET", "socketio")
      @key = "symple"
      @namespace = "/"
      @subscription_mode = :dynamic
      @stream = "socket.io"
      @maxlen = 10_000
      @stream_count = 1
      @history_size = 1000
      @history_age = 600
      @from = "server"
      @queued = false
      @connect_timeout = 2.0
      @response_timeout = 5.0
      @logger = nil
      @callback_errors = :log
      @strict = nil
      @pool_size = 5
      @job_queue = :default
    end

    def strict?
      return @strict unless @strict.nil?

      %w[development test].include?(Configuration.environment)
    end

    def pool_size=(value)
      @pool_size = Configuration.pool_size(value)
    end

    # Checks a pool size and returns it.
    def self.pool_size(value)
      return value if value.is_a?(Integer) && value.between?(1, 64)

      raise ConfigurationError, "pool_size must be an Integer from 1 to 64, not #{value.inspect}"
    end

    # The application's environment name, as Rails reads it.
    def self.environment
      return ::Rails.env.to_s if defined?(::Rails) && ::Rails.respond_to?(:env) && ::Rails.env

      ENV["RAILS_ENV"] || ENV["RACK_ENV"] || "development"
    end

    def target=(value)
      @target = Configuration.target(value)
    end

    def callback_errors=(value)
      unless %i[log retry raise].include?(value)
        raise ConfigurationError, "callback_errors must be :log, :retry or :raise, not #{value.inspect}"
      end

      @callback_errors = value
    end

    # Checks a target name; accepts Symbols and Strings, with `_` or `-`.
    def self.target(value)
      sym = value.to_s.tr("-", "_").to_sym if value.is_a?(String) || value.is_a?(Symbol)
      return sym if TARGETS.include?(sym)

      raise ConfigurationError,
            "unknown target #{value.inspect}: use #{TARGETS.map(&:inspect).join(", ")}"
    end

    # The target and its options as the extension takes them; `overrides` (nil values
    # ignored) win over these settings. The extension checks them all.
    def target_options(overrides = {})
      o = overrides.compact
      target = Configuration.target(o.fetch(:target, self.target))
      {
        "name" => target.to_s, "key" => o.fetch(:key, key).to_s,
        "namespace" => o.fetch(:namespace, namespace).to_s,
        "subscription_mode" => o.fetch(:subscription_mode, subscription_mode).to_s,
        "stream" => o.fetch(:stream, stream).to_s,
        "maxlen" => o.fetch(:maxlen, maxlen), "stream_count" => o.fetch(:stream_count, stream_count),
        "history_size" => o.fetch(:history_size, history_size), "history_age" => o.fetch(:history_age, history_age)
      }
    end

    # Raises ConfigurationError unless the target settings can work.
    def check!
      Native::Emitter.check_target(target_options)
      self
    end

    # Checks a timeout and returns it as a Float.
    def self.seconds(name, value)
      f = Float(value, exception: false) if value.is_a?(Numeric) || value.respond_to?(:to_f)
      return f if f&.positive? && f.finite?

      raise ConfigurationError, "#{name} must be a positive number of seconds, not #{value.inspect}"
    end
  end
end
