# frozen_string_literal: true

module Symple
  # What Symple::Broadcasts and Symple::SessionSync share: reading an option for a record,
  # and handling a Redis failure after the row has committed.
  module ModelHooks
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

    # Runs a push. The row has already committed, so by default a failure is logged and
    # instrumented (error.symple) rather than raised at the caller of save; set
    # `Symple.config.callback_errors = :raise` to raise it instead.
    def run(record, operation)
      yield
    rescue Symple::Error => e
      raise if Symple.config.callback_errors == :raise

      Symple.logger.error("symple: #{operation} for #{record.class.name}##{record.id} failed: " \
                          "#{e.class}: #{e.message}")
      Instrumentation.instrument(:error, { error: e, record: record, operation: operation }) {}
      nil
    end
  end
end
