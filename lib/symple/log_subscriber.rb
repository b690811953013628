# frozen_string_literal: true

require "active_support/log_subscriber"

module Symple
  # Logs what symple does at debug level (development.log shows every push), like Active
  # Record's SQL lines:
  #
  #   Symple emit to [42] (native, 0.4ms) {"type":"message","subtype":"post:create",...}
  #   Symple session set (0.3ms)
  #   Symple error: broadcast on create for Post#7 failed: Symple::ConnectionError ...
  #
  # The Railtie attaches it when Symple.logger logs debug lines at boot; elsewhere,
  # `Symple::LogSubscriber.attach_to :symple`. Once attached, every emit is instrumented,
  # which costs a few microseconds.
  class LogSubscriber < ActiveSupport::LogSubscriber
    def emit(event)
      debug do
        p = event.payload
        line = "  #{color("Symple #{p[:method]}", MAGENTA, true)} to #{p[:rooms].inspect} " \
               "(#{p[:target]}, #{event.duration.round(1)}ms)"
        line += " x#{p[:count]}" if p[:count].to_i > 1
        line += " #{json(p[:message])}" if p[:message]
        line
      end
    end

    def session(event)
      debug { "  #{color("Symple session #{event.payload[:operation]}", MAGENTA, true)} (#{event.duration.round(1)}ms)" }
    end

    def flush(event)
      debug { "  #{color("Symple flush", MAGENTA, true)} (#{event.duration.round(1)}ms)" }
    end

    def logger
      Symple.logger
    end

    private

    def json(message)
      message.to_json
    rescue StandardError
      message.inspect
    end
  end
end
