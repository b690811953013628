# frozen_string_literal: true

require "open3"

module Support
  # The `symple` command-line tool of this repository: SYMPLE_TEST_BIN when set, else the
  # crate's debug binary, built by cargo once per run (a no-op after `cargo test`).
  module Cli
    ROOT = File.expand_path("../..", __dir__)

    def self.path
      @path ||= ENV.fetch("SYMPLE_TEST_BIN") do
        out, status = Open3.capture2e("cargo", "build", "--quiet", "--bin", "symple", chdir: ROOT)
        raise "cargo build --bin symple failed:\n#{out}" unless status.success?

        File.join(ENV.fetch("CARGO_TARGET_DIR", File.join(ROOT, "target")), "debug", "symple")
      end
    end

    # Runs `symple *args`; returns its stdout parsed as JSON, or raises with its stderr.
    def self.json(*args)
      out, err, status = Open3.capture3(path, *args)
      raise "symple #{args.join(" ")} failed (#{status.exitstatus}): #{err}" unless status.success?

      JSON.parse(out)
    end
  end
end
