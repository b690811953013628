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
  #                    user: ->(t) { t.user.username },
  #                    name: ->(t) { t.user.display_name },
  #                    rooms: ->(t) { t.user.teams.pluck(:slug) },
  #                    ttl: 1.week
  #   end
  #
  # `user:` is required (a String: servers name the user's room after it); `token:` names
  # the token column (default :token); `name:`, `rooms:` and `data:` (a Hash of further
  # fields) are optional; `ttl:` is seconds or a Duration (nil: never expires); `session:`
  # defaults to Symple.session. Options may be values, Symbols naming methods, or Procs.
  module SessionSync
    extend ActiveSupport::Concern

    class_methods do
      def symple_session(user:, token: :token, name: nil, rooms: nil, data: nil, ttl: nil, session: nil)
        opts = { user: user, token: token, name: name, rooms: rooms, data: data, ttl: ttl,
                 session: session }
        after_commit(on: :create) { SessionSync.created(self, opts) }
        after_commit(on: :update) { SessionSync.updated(self, opts) }
        after_commit(on: :destroy) { SessionSync.destroyed(self, opts) }
        # A touch commits like an update; this flag tells the two apart.
        after_touch { @symple_touched = true }
        after_rollback { @symple_touched = false }
      end
    end

    class << self
      def created(record, opts)
        ModelHooks.run(record, "session create") do
          store(record, opts).set(token(record, opts), fields(record, opts), ttl: ttl(record, opts))
        end
      end

      def updated(record, opts)
        touched = record.instance_variable_get(:@symple_touched)
        record.instance_variable_set(:@symple_touched, false)
        column = opts[:token].is_a?(Symbol) ? opts[:token].to_s : nil
        ModelHooks.run(record, "session update") do
          if column && record.saved_change_to_attribute?(column)
            # A new token: the old session goes, a new one comes.
            old, new = record.saved_change_to_attribute(column)
            store(record, opts).delete(old.to_s) if old
            store(record, opts).set(new.to_s, fields(record, opts), ttl: ttl(record, opts))
          else
            rewrite(record, opts) if record.saved_changes.any?
            if touched && (seconds = ttl(record, opts))
              store(record, opts).touch(token(record, opts), ttl: seconds)
            end
          end
        end
      end

      def destroyed(record, opts)
        ModelHooks.run(record, "session delete") { store(record, opts).delete(token(record, opts)) }
      end

      private

      # Writes the whole value again (a field that became nil must go, which a merge would
      # keep), with the TTL it has left; a session that is gone stays gone.
      def rewrite(record, opts)
        store = store(record, opts)
        token = token(record, opts)
        left = store.ttl(token)
        return if left.nil?

        store.set(token, fields(record, opts), ttl: left == Float::INFINITY ? nil : left)
      end

      def store(record, opts)
        ModelHooks.value(opts[:session], record) || Symple.session
      end

      def token(record, opts)
        ModelHooks.value(opts[:token], record).to_s
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
