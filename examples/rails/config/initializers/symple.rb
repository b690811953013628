# frozen_string_literal: true

# symple: push Symple messages from Rails to browsers through Redis.
# Every setting below can also be set as config.symple.<name> in config/application.rb.
Symple.configure do |c|
  # A Redis URL or a redis-rb client (default: SYMPLE_REDIS_URL, then REDIS_URL, then localhost).
  c.redis = ENV["SYMPLE_REDIS_URL"] || ENV["REDIS_URL"]

  # Which servers read the pushes: :native for `symple server` and the v4 Node server,
  # :socketio for npm symple 2.x (and any Socket.IO server with the Redis adapter).
  c.target = ENV.fetch("SYMPLE_TARGET", "native")

  # The `from` address of pushes.
  c.from = "rails|demo_app"

  # Redis connections shared by Puma's threads (one per thread at most).
  c.pool_size = [[ENV.fetch("RAILS_MAX_THREADS", 5).to_i, 1].max, 64].min

  # A Redis failure after a row committed: :log, :retry (an ActiveJob retries the push or
  # the session write: Symple::PushJob, Symple::SessionSyncJob) or :raise.
  c.callback_errors = :retry

  # InvalidMessage/InvalidSession from model callbacks raise in development and test and are
  # logged elsewhere; set true or false to decide yourself.
  # c.strict = true

  # Seconds; a Redis that does not answer fails with "timed out" after these.
  # c.connect_timeout = 2.0
  # c.response_timeout = 5.0
end
