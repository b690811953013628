# frozen_string_literal: true

require_relative "lib/symple/version"

Gem::Specification.new do |s|
  s.name = "symple"
  s.version = Symple::VERSION
  s.summary = "Push Symple real-time messages and manage Symple sessions through Redis"
  s.description = <<~TEXT
    Publishes Symple messages (chat, presence, commands, events, WebRTC signalling) to the
    Symple servers your clients use, through Redis: Socket.IO adapter packets (npm symple
    2.x) or native packets (symple:broadcast). Also manages the Redis sessions the servers
    authenticate against, with ActiveRecord hooks for both. The work is done by the Rust
    crate `symple` in a native extension, built with cargo at install time.
  TEXT
  s.authors = ["symple contributors"]
  s.license = "MIT"
  s.required_ruby_version = ">= 3.1"
  s.metadata["rubygems_mfa_required"] = "true"

  # The extension compiles the Rust workspace at install time, so the gem carries it: the
  # root crate (its manifest names benches/ and src/bin/, which cargo reads even when it
  # builds only the library), the lock file and the extension crate.
  root = __dir__
  patterns = %w[
    README.md Cargo.toml Cargo.lock build.rs
    src/**/* benches/**/*.rs examples/**/*.rs tests/*.rs tests/support/**/*.rs
    ext/symple/Cargo.toml ext/symple/extconf.rb ext/symple/src/**/*.rs
    lib/**/*.rb lib/**/*.tt
  ]
  s.files = patterns.flat_map { |p| Dir.glob(p, base: root) }.select { |f| File.file?(File.join(root, f)) }.uniq.sort
  s.require_paths = ["lib"]
  s.extensions = ["ext/symple/extconf.rb"]

  # Everything at run time is optional: redis-rb only to pass a client as `redis:`,
  # ActiveRecord/ActiveSupport only for the concerns and instrumentation.
  s.add_development_dependency "activerecord", ">= 6.1"
  s.add_development_dependency "msgpack", ">= 1.4"
  s.add_development_dependency "rake", ">= 13"
  s.add_development_dependency "redis", ">= 4.8"
  s.add_development_dependency "rspec", "~> 3.12"
  s.add_development_dependency "sqlite3", ">= 1.4"
end
