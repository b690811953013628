# frozen_string_literal: true

require "active_job"
require "active_support/core_ext/object/json"
require_relative "model_hooks"

module Symple
  # What symple's jobs share: the configured queue; a Redis failure is retried with growing
  # waits; an error retrying cannot fix (a message or session the store refuses) ends the job
  # with a log line.
  class Job < ActiveJob::Base
    queue_as { Symple.config.job_queue }
    retry_on ConnectionError, RedisError, wait: :exponentially_longer, attempts: 10
    discard_on(*ModelHooks::PROGRAMMER_ERRORS) do |job, error|
      Symple.logger.error("symple: #{job.class.name} gave up: #{error.class}: #{error.message}")
    end
  end

  # Pushes a message built when its row committed: for `symple_broadcast later: true`, and to
  # retry a push that failed after a commit (`callback_errors = :retry`).
  class PushJob < Job
    # Enqueues a push of `message` (a Hash) to `rooms`, both turned into JSON values now.
    def self.enqueue(rooms, message)
      rooms = Array(rooms).map { |r| r.is_a?(Integer) ? r : r.to_s }
      perform_later(rooms, message.as_json)
    end

    def perform(rooms, message)
      Symple.emitter.to(rooms).emit(message)
    end
  end

  # Writes (or deletes) the Redis session of one token row again, from the row as it is now:
  # the retry of a session write that failed after a commit (`callback_errors = :retry`).
  # `token` is the token the failed write was about; when the row is gone, or now has
  # another token, that session is deleted.
  class SessionSyncJob < Job
    def self.enqueue(record, token)
      perform_later(record.class.name, record.id, token.to_s)
    end

    def perform(model, id, token)
      klass = model.constantize
      record = klass.find_by(klass.primary_key => id)
      SessionSync.sync(record) if record
      return if record && SessionSync.token(record, klass.symple_session_options) == token

      SessionSync.store(record, klass.symple_session_options).delete(token)
    end
  end
end
