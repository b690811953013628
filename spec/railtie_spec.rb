# frozen_string_literal: true

require "open3"
require "rbconfig"

# The Railtie inside a real Rails application (Debian's railties), booted in a fresh Ruby so
# that this suite's process stays free of Rails.
RSpec.describe "Railtie" do
  def ruby(script, env = {})
    out, status = Open3.capture2e(env, RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-e", script)
    expect(status).to be_success, out
    out
  end

  def app(extra = "")
    <<~RUBY
      require "rails"
      require "action_controller/railtie"
      require "symple"
      require "logger"
      LOG = StringIO.new
      class App < Rails::Application
        config.eager_load = false
        config.logger = Logger.new(LOG)
        config.secret_key_base = "x"
        config.symple.target = :native
        config.symple.from = "rails|app"
        config.symple.redis = "redis://example:1/2"
        #{extra}
      end
    RUBY
  end

  it "is not defined when Rails is not loaded" do
    expect(ruby('require "symple"; print defined?(Symple::Railtie).inspect')).to eq("nil")
  end

  it "copies config.symple.* into Symple.config, uses the Rails logger, logs pushes at debug level" do
    out = ruby(app + <<~RUBY, "RAILS_ENV" => "development")
      Rails.application.initialize!
      print [Symple.config.target, Symple.config.from, Symple.config.redis,
             Symple.logger.equal?(Rails.logger), Symple.config.strict?].inspect
      e = Symple::Emitter.offline(target: :native)
      e.to("lobby").send(1)
      print " ", LOG.string.gsub(/\\e\\[[\\d;]*m/, "")[/Symple send_message to \\["lobby"\\]/].inspect
    RUBY
    expect(out).to eq('[:native, "rails|app", "redis://example:1/2", true, true] "Symple send_message to [\\"lobby\\"]"')
  end

  it "is not strict and does not instrument pushes in production" do
    out = ruby(app("config.log_level = :info") + <<~RUBY, "RAILS_ENV" => "production")
      Rails.application.initialize!
      print [Symple.config.strict?, Symple::Instrumentation.listening?(:emit)].inspect
    RUBY
    expect(out).to eq("[false, false]")
  end

  it "refuses an unknown setting" do
    out, status = Open3.capture2e(RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-e",
                                  app("config.symple.no_such_thing = 1") + "Rails.application.initialize!")
    expect(status).not_to be_success
    expect(out).to include("config.symple.no_such_thing: no such setting")
  end
end
