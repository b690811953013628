# frozen_string_literal: true

# Specs run against real components: a redis-server started here on a free loopback port,
# ActiveRecord on sqlite3, and npm's symple@2.1.1 through tests/interop/harness.js.
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

  config.before(:suite) { Support::RedisServer.instance }
  config.before do
    Support::RedisServer.instance.admin.flushall
    Symple.instance_variable_set(:@config, nil)
    Symple.configure { |c| c.redis = Support::RedisServer.instance.url }
  end
end
