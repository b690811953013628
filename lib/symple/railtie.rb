# frozen_string_literal: true

module Symple
  # Rails integration: `config.symple.*` in config/application.rb or an environment file sets
  # Symple.config (any Configuration attribute, e.g. `config.symple.target = :native`), the
  # Rails logger is used, pushes are logged at debug level (Symple::LogSubscriber), and the
  # ActiveRecord concerns load with ActiveRecord. `rails g symple:install` writes an
  # initializer (lib/generators/symple/install).
  class Railtie < ::Rails::Railtie
    config.symple = ActiveSupport::OrderedOptions.new

    initializer "symple.configure" do |app|
      Symple.configure do |c|
        app.config.symple.each do |name, value|
          unless c.respond_to?("#{name}=")
            raise ConfigurationError, "config.symple.#{name}: no such setting"
          end

          c.public_send("#{name}=", value)
        end
        c.logger ||= ::Rails.logger
      end
    end

    # Only when debug lines are kept (development): attached, every emit is instrumented.
    config.after_initialize do
      Symple::LogSubscriber.attach_to(:symple) if Symple.logger.debug?
    end

    initializer "symple.active_record" do
      ActiveSupport.on_load(:active_record) do
        require "symple/broadcasts"
        require "symple/session_sync"
      end
    end
  end
end
