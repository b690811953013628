# frozen_string_literal: true

module Support
  # Bounded waits: poll until a condition holds, fail with a message after a deadline. The
  # deadline only bounds a hang; no spec asserts how long anything took.
  module Wait
    def wait_until(what, timeout: 20)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      loop do
        result = yield
        return result if result
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          raise "gave up after #{timeout} s waiting for #{what}"
        end

        sleep 0.005
      end
    end
    module_function :wait_until

    # Waits for a child process; kills it and fails when it does not end in time.
    def wait_child(pid, timeout: 20)
      status = nil
      wait_until("child #{pid} to exit", timeout: timeout) { status = Process.waitpid2(pid, Process::WNOHANG)&.last }
      status
    rescue RuntimeError
      Process.kill(:KILL, pid)
      Process.wait(pid)
      raise
    end
  end
end
