# frozen_string_literal: true

require "active_support/concern"
require_relative "model_hooks"

module Symple
  # Pushes a Symple message when a model is created, updated or destroyed, after the
  # transaction commits (a rolled-back transaction pushes nothing).
  #
  #   class Post < ApplicationRecord
  #     include Symple::Broadcasts
  #     symple_broadcast on: %i[create update], to: ->(post) { "team-#{post.team_id}" },
  #                      subtype: "post:changed", data: ->(post) { post.slice(:id, :title) }
  #   end
  #
  # `to:` (required) gives the rooms (a room, a user, an Integer id, or an Array); `subtype:`
  # defaults to "<model>:<action>" ("post:create"); `data:` defaults to `record.as_json`;
  # `emitter:` defaults to Symple.emitter; `if:` skips the push when it returns false. Each
  # option may be a value, a Symbol naming a method, or a Proc taking the record.
  module Broadcasts
    extend ActiveSupport::Concern

    ACTIONS = %i[create update destroy].freeze

    class_methods do
      def symple_broadcast(to:, on: ACTIONS, subtype: nil, data: nil, emitter: nil, if: nil)
        actions = Array(on).map(&:to_sym)
        unknown = actions - ACTIONS
        unless unknown.empty?
          raise ArgumentError, "symple_broadcast on: #{unknown.inspect} is not one of #{ACTIONS.inspect}"
        end

        options = { to: to, subtype: subtype, data: data, emitter: emitter, if: binding.local_variable_get(:if) }
        # One after_commit per action: the action is then known without Rails internals.
        actions.each do |action|
          after_commit(on: action) { Broadcasts.push(self, action, options) }
        end
      end
    end

    def self.push(record, action, options)
      return if options[:if] && !ModelHooks.value(options[:if], record)

      ModelHooks.run(record, "broadcast on #{action}") do
        emitter = ModelHooks.value(options[:emitter], record) || Symple.emitter
        rooms = ModelHooks.value(options[:to], record)
        subtype = ModelHooks.value(options[:subtype], record) ||
                  "#{record.class.model_name.element}:#{action}"
        data = options[:data] ? ModelHooks.value(options[:data], record) : record.as_json
        emitter.to(rooms).emit({ "type" => "message", "subtype" => subtype.to_s, "data" => data })
      end
    end
  end
end
