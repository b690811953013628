# frozen_string_literal: true

require "open3"
require "rbconfig"

# Railties are not installed here, so these run `require "symple"` in a fresh Ruby: once
# without Rails, once under a minimal stand-in for Rails::Railtie's class API (config,
# initializer) that runs the initializers the way Rails boots them.
RSpec.describe "Railtie" do
  def ruby(script)
    out, status = Open3.capture2e(RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-e", script)
    expect(status).to be_success, out
    out
  end

  it "is not defined when Rails is not loaded" do
    expect(ruby('require "symple"; print defined?(Symple::Railtie).inspect')).to eq("nil")
  end

  it "copies config.symple.* into Symple.config and uses the Rails logger" do
    out = ruby(<<~RUBY)
      require "active_support"
      require "active_support/ordered_options"
      require "logger"
      module Rails
        def self.logger = (@logger ||= Logger.new(nil))
        class Railtie
          def self.config = (@@config ||= ActiveSupport::OrderedOptions.new)
          def self.initializers = (@@initializers ||= [])
          def self.initializer(name, &block) = initializers << [name, block]
        end
      end
      require "symple"
      app = Struct.new(:config).new(Rails::Railtie.config)
      app.config.symple.target = :native
      app.config.symple.from = "rails|app"
      app.config.symple.redis = "redis://example:1/2"
      Rails::Railtie.initializers.each { |_, block| block.call(app) }
      print [Symple.config.target, Symple.config.from, Symple.config.redis,
             Symple.logger.equal?(Rails.logger)].inspect
      app.config.symple.no_such_thing = 1
      begin
        Rails::Railtie.initializers.first.last.call(app)
      rescue Symple::ConfigurationError => e
        print " ", e.message
      end
    RUBY
    expect(out).to eq('[:native, "rails|app", "redis://example:1/2", true] config.symple.no_such_thing: no such setting')
  end
end
