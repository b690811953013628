# frozen_string_literal: true

require_relative "boot"
require "rails"
require "active_record/railtie"
require "active_job/railtie"
require "action_controller/railtie"
require "symple"

module DemoApp
  # The smallest real Rails app that shows the three things symple does for Rails: a login
  # creates a Symple session (Symple::SessionSync), a logout deletes it, and a model's
  # after_commit pushes to the browser (Symple::Broadcasts).
  class Application < Rails::Application
    config.load_defaults 6.1
    config.root = File.expand_path("..", __dir__)
    config.eager_load = false
    config.secret_key_base = ENV.fetch("SECRET_KEY_BASE", "demo-only-not-secret")
    config.logger = ActiveSupport::Logger.new($stdout, level: ENV.fetch("LOG_LEVEL", "info"))
    config.active_job.queue_adapter = :async
    config.hosts.clear # the demo binds to loopback only
    # Where the page lives (symple server --demo), for the redirect after login.
    config.x.symple_page = ENV.fetch("SYMPLE_PAGE", "http://127.0.0.1:4500/demo")
  end
end
