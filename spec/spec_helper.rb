# frozen_string_literal: true

# Specs run against real components: redis-servers started here on free loopback ports (every
# kind: plain, TLS, ACL user, cluster; spec/support/redis_server.rb), ActiveRecord on sqlite3,
# and npm's symple@2.1.1 through tests/interop/harness.js.
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "json"
require "redis"
require "symple"

Dir[File.join(__dir__, "support", "*.rb")].sort.each { |f| require f }

RSpec.configure do |config|
  config.include Support::Wait
  config.include Support::Helpers
  config.disable_monkey_patching!
  config.order = :random
  Kernel.srand config.seed

  config.extend Support::EveryRedis
  config.before(:suite) { Support::RedisServer.instance }
  config.before do |example|
    server = Support::RedisServer.instance(example.metadata[:redis_kind] || :plain)
    server.flush
    Symple.instance_variable_set(:@config, nil)
    Symple.configure do |c|
      c.redis = server.url
      # A TLS handshake on this shared 2-core machine under load has taken over the 2 s
      # default; the specs of timeouts set their own.
      c.connect_timeout = 10
    end
  end
end
