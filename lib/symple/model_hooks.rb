# frozen_string_literal: true

module Symple
  # What Symple::Broadcasts and Symple::SessionSync share: reading an option for a record,
  # and handling a failure after the row has committed.
  module ModelHooks
    # Errors in what the application asked for, not in Redis: raised in development and test
    # (Configuration#strict?), so they show up before production.
    PROGRAMMER_ERRORS = [InvalidMessage, InvalidSession, Unsupported, ConfigurationError].freeze

    module_function

    # A Proc is called with the record (or run on it when it takes no argument), a Symbol
    # names a method of the record, anything else is the value itself.
    def value(spec, record)
      case spec
      when Proc then spec.arity.zero? ? record.instance_exec(&spec) : spec.call(record)
      when Symbol then record.public_send(spec)
      else spec
      end
    end

    # Runs a push or a session write for a committed row. A programmer's error raises when
    # Symple.config.strict?; a Redis failure follows Symple.config.callback_errors: :log (the
    # commit stands; logged and instrumented as error.symple), :retry (the same, and `retry`
    # is called to enqueue a job) or :raise.
    def run(record, operation, retry_with: nil)
      yield
    rescue *PROGRAMMER_ERRORS => e
      raise if Symple.config.strict?

      report(record, operation, e, retried: false)
    rescue Symple::Error => e
      mode = Symple.config.callback_errors
      raise if mode == :raise

      report(record, operation, e, retried: mode == :retry && !retry_with.nil? && enqueue(retry_with, operation))
    end

    def report(record, operation, error, retried:)
      Symple.logger.error("symple: #{operation} for #{record.class.name}##{record.id} failed: " \
                          "#{error.class}: #{error.message}#{"; retrying through a job" if retried}")
      Instrumentation.instrument(:error, { error: error, record: record, operation: operation, retried: retried }) {}
      nil
    end

    # Enqueues the retry job; false (and a log line) when that fails too.
    def enqueue(retry_with, operation)
      retry_with.call
      true
    rescue StandardError => e
      Symple.logger.error("symple: could not enqueue the retry of #{operation}: #{e.class}: #{e.message}")
      false
    end
  end
end
