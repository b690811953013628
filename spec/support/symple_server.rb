# frozen_string_literal: true

require "json"
require "open3"

module Support
  # The `symple server` binary this checkout builds (`cargo build`; `cargo test` builds it
  # too), on a free loopback port, stopped by PID.
  class SympleServer
    BIN = ENV.fetch("SYMPLE_BIN", File.expand_path("../../target/debug/symple", __dir__))

    attr_reader :addr

    def initialize(*args)
      raise "#{BIN} is missing: run `cargo build --bin symple`" unless File.executable?(BIN)

      env = ENV.keys.grep(/\A(SYMPLE_|REDIS_URL\z|PORT\z)/).to_h { |k| [k, nil] }
      stdin, @out, @wait = Open3.popen2(env, BIN, "server", "--listen", "127.0.0.1:0", *args, err: File::NULL)
      stdin.close
      line = IO.select([@out], nil, nil, 30) && @out.gets
      raise "symple server did not start (#{args.join(" ")})" unless line

      @addr = JSON.parse(line).fetch("addr")
    end

    def url
      "ws://#{@addr}"
    end

    def stop
      Process.kill(:TERM, @wait.pid)
      Process.kill(:KILL, @wait.pid) unless @wait.join(10)
    rescue Errno::ESRCH
      nil
    end
  end
end
