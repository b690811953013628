# frozen_string_literal: true

require "active_support/concern"
require_relative "model_hooks"

module Symple
  # Keeps the Redis session of a token row in step with the row, after each commit:
  # created when the row is created, deleted when it is destroyed, its TTL extended when the
  # row is touched, its fields rewritten when the row is updated.
  #
  #   class ApiToken < ApplicationRecord
  #     belongs_to :user
  #     include Symple::SessionSync
  #     symple_session token: :token,
  #                    user: :user_id,
  #                    name: ->(t) { t.user.display_name },
  #                    rooms: ->(t) { t.user.teams.pluck(:slug) },
  #                    ttl: 1.week
  #   end
  #
  # `user:` is required: a String (a user name) or an Integer (`:user_id`); servers name the
  # user's room after it, so `Symple.emitter.to(user.id)` reaches an Integer user. `token:`
  # names the token column (default :token); `name:`, `rooms:` and `data:` (a Hash of further
  # fields) are optional; `ttl:` is seconds or a Duration (nil: never expires); `session:`
  # defaults to Symple.session. Options may be values, Symbols naming methods, or Procs.
  #
  # A write that fails after the commit is logged, retried through Symple::SessionSyncJob
  # (`Symple.config.callback_errors = :retry`) or raised (`:raise`); `Symple::Session.sync(row)`
  # writes one row's session again by hand.
  module SessionSync
    extend ActiveSupport::Concern

    included do
      class_attribute :symple_session_options, instance_writer: false
    end

    class_methods do
      def symple_session(user:, token: :token, name: nil, rooms: nil, data: nil, ttl: nil, session: nil)
        self.symple_session_options = { user: user, token: token, name: name, rooms: rooms, data: data,
                                        ttl: ttl, session: session }.freeze
        after_commit(on: :create) { SessionSync.created(self) }
        after_commit(on: :update) { SessionSync.updated(self) }
        after_commit(on: :destroy) { SessionSync.destroyed(self) }
        # A touch commits like an update; this flag tells the two apart.
        after_touch { @symple_touched = true }
        after_rollback { @symple_touched = false }
      end
    end

    class << self
      # Writes the row's session as a create would (fields and full TTL); deletes it when
      # the row was destroyed. Returns true.
      def sync(record)
        opts = options(record)
        if record.destroyed?
          store(record, opts).delete(token(record, opts))
        else
          store(record, opts).set(token(record, opts), fields(record, opts), ttl: ttl(record, opts))
        end
        true
      end

      def created(record)
        opts = options(record)
        run(record, "session create", token(record, opts)) do
          store(record, opts).set(token(record, opts), fields(record, opts), ttl: ttl(record, opts))
        end
      end

      def updated(record)
        opts = options(record)
        touched = record.instance_variable_get(:@symple_touched)
        record.instance_variable_set(:@symple_touched, false)
        column = opts[:token].is_a?(Symbol) ? opts[:token].to_s : nil
        if column && record.saved_change_to_attribute?(column)
          # A new token: the old session goes, a new one comes.
          old, new = record.saved_change_to_attribute(column)
          run(record, "session update", old) do
            store(record, opts).delete(old.to_s) if old
            store(record, opts).set(new.to_s, fields(record, opts), ttl: ttl(record, opts))
          end
        else
          run(record, "session update", token(record, opts)) do
            rewrite(record, opts) if record.saved_changes.any?
            if touched && (seconds = ttl(record, opts))
              store(record, opts).touch(token(record, opts), ttl: seconds)
            end
          end
        end
      end

      def destroyed(record)
        opts = options(record)
        run(record, "session delete", token(record, opts)) { store(record, opts).delete(token(record, opts)) }
      end

      # The session store for a row (or, with no row, the configured one).
      def store(record, opts)
        (record && ModelHooks.value(opts[:session], record)) ||
          (opts[:session].is_a?(Session) && opts[:session]) || Symple.session
      end

      def token(record, opts)
        ModelHooks.value(opts[:token], record).to_s
      end

      private

      def options(record)
        record.class.try(:symple_session_options) or
          raise ArgumentError, "#{record.class.name} has no symple_session (include Symple::SessionSync)"
      end

      def run(record, operation, token, &block)
        ModelHooks.run(record, operation, retry_with: -> { SessionSyncJob.enqueue(record, token) }, &block)
      end

      # Writes the whole value again (a field that became nil must go, which a merge would
      # keep), with the TTL it has left; a session that is gone stays gone.
      def rewrite(record, opts)
        store = store(record, opts)
        token = token(record, opts)
        left = store.ttl(token)
        return if left.nil?

        store.set(token, fields(record, opts), ttl: left == Float::INFINITY ? nil : left)
      end

      def ttl(record, opts)
        ModelHooks.value(opts[:ttl], record)
      end

      def fields(record, opts)
        out = {}
        extra = ModelHooks.value(opts[:data], record)
        out.merge!(extra.to_h) if extra
        out["user"] = ModelHooks.value(opts[:user], record)
        name = ModelHooks.value(opts[:name], record)
        out["name"] = name unless name.nil?
        rooms = ModelHooks.value(opts[:rooms], record)
        out["rooms"] = Array(rooms) unless rooms.nil?
        out
      end
    end
  end
end
