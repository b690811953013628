# frozen_string_literal: true

module Symple
  # Fork and exit handling for queued emitters and the connections.
  #
  # Before a fork (Puma, Unicorn, Sidekiq, Resque, plain `fork`): queued packets are flushed,
  # so the parent's messages go out before the child starts; and the fork waits until no
  # thread is in the middle of a Redis call (Symple::Native.before_fork), so the child never
  # inherits a connection lock held by a thread it does not have. The child reconnects by
  # itself on first use. At exit, queued packets are flushed.
  # Failures are logged: a fork or an exit must not fail because Redis did.
  module ProcessHooks
    # Prepended to Process's singleton class; Ruby >= 3.1 routes every fork through _fork.
    module Fork
      def _fork
        begin
          ProcessHooks.report("before fork", Symple::Native.before_fork)
          super
        ensure
          Symple::Native.after_fork
        end
      end
    end

    def self.report(moment, failures)
      failures.each { |msg| Symple.logger.error("symple: flushing queued messages #{moment} failed: #{msg}") }
    end

    def self.install
      return if @installed

      @installed = true
      Process.singleton_class.prepend(Fork) if Process.respond_to?(:_fork)
      at_exit { report("at exit", Symple::Native.flush_all) }
    end
  end
end
