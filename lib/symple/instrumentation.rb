# frozen_string_literal: true

module Symple
  # ActiveSupport::Notifications events, sent only when ActiveSupport is loaded and someone
  # subscribes, so a plain Ruby process pays nothing:
  #
  #   emit.symple        every publish (emit, send*, emit_raw, emit_event, room operations)
  #                      payload: method, target, count (messages; 1 except for emit_batch),
  #                      rooms, and message for `emit`
  #   session.symple     every session operation; payload: operation
  #   flush.symple       Emitter#flush
  #   error.symple       a push from a model callback failed after the commit (see
  #                      Configuration#callback_errors); payload: error, record, operation,
  #                      retried (a retry job was enqueued)
  module Instrumentation
    EVENTS = %i[emit session flush error].to_h { |e| [e, "#{e}.symple"] }.freeze

    module_function

    def listening?(event)
      defined?(ActiveSupport::Notifications) &&
        ActiveSupport::Notifications.notifier.listening?(EVENTS.fetch(event))
    end

    # Runs the block, inside ActiveSupport::Notifications.instrument when someone listens.
    # Hot paths check listening? first so that they build no payload otherwise.
    def instrument(event, payload)
      return yield unless listening?(event)

      ActiveSupport::Notifications.instrument(EVENTS.fetch(event), payload) { yield }
    end
  end
end
