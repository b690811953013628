# frozen_string_literal: true

require "active_support/concern"
require_relative "model_hooks"

module Symple
  # Pushes a Symple message when a model is created, updated or destroyed, after the
  # transaction commits (a rolled-back transaction pushes nothing).
  #
  #   class Post < ApplicationRecord
  #     include Symple::Broadcasts
  #     symple_broadcast on: %i[create update], to: :user_id,
  #                      data: ->(post) { post.slice(:id, :title) }
  #   end
  #
  # The message is `{type: "message", subtype: "post:create", action: "create", data: ...}`:
  #
  # - `to:` (required) gives the rooms: a room, a user, an Integer id (`:user_id` reaches the
  #   user whose session `user` is that id), or an Array.
  # - `data:` is what clients see; without it, only `{model: "Post", id: 1}` (never the row's
  #   columns: they may hold what browsers must not see).
  # - `subtype:` defaults to "<model>:<action>"; `action` ("create", "update", "destroy") is
  #   always there, whatever the subtype.
  # - `later: true` pushes from Symple::PushJob (ActiveJob) instead of inside the commit
  #   callback; the message is built at commit time, so a destroyed row can still be named.
  # - `emitter:` defaults to Symple.emitter (not with `later:`); `if:` skips the push when it
  #   returns false.
  #
  # Each option may be a value, a Symbol naming a method, or a Proc taking the record.
  module Broadcasts
    extend ActiveSupport::Concern

    ACTIONS = %i[create update destroy].freeze

    class_methods do
      def symple_broadcast(to:, on: ACTIONS, subtype: nil, data: nil, emitter: nil, if: nil, later: false)
        actions = Array(on).map(&:to_sym)
        unknown = actions - ACTIONS
        unless unknown.empty?
          raise ArgumentError, "symple_broadcast on: #{unknown.inspect} is not one of #{ACTIONS.inspect}"
        end
        if later && emitter
          raise ArgumentError, "symple_broadcast later: true pushes through Symple.emitter; drop emitter:"
        end

        options = { to: to, subtype: subtype, data: data, emitter: emitter,
                    if: binding.local_variable_get(:if), later: later }
        # One after_commit per action: the action is then known without Rails internals.
        actions.each do |action|
          after_commit(on: action) { Broadcasts.push(self, action, options) }
        end
      end
    end

    # The message a push of `record` for `action` carries.
    def self.message(record, action, options)
      subtype = ModelHooks.value(options[:subtype], record) || "#{record.class.model_name.element}:#{action}"
      data = if options[:data]
               ModelHooks.value(options[:data], record)
             else
               { "model" => record.class.name, "id" => record.id }
             end
      { "type" => "message", "subtype" => subtype.to_s, "action" => action.to_s, "data" => data }
    end

    def self.push(record, action, options)
      return if options[:if] && !ModelHooks.value(options[:if], record)

      rooms = message = nil
      retry_with = -> { PushJob.enqueue(rooms, message) }
      ModelHooks.run(record, "broadcast on #{action}", retry_with: retry_with) do
        rooms = ModelHooks.value(options[:to], record)
        message = Broadcasts.message(record, action, options)
        if options[:later]
          PushJob.enqueue(rooms, message)
        else
          emitter = ModelHooks.value(options[:emitter], record) || Symple.emitter
          emitter.to(rooms).emit(message)
        end
      end
    end
  end
end
