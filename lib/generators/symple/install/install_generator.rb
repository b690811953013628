# frozen_string_literal: true

require "rails/generators/base"

module Symple
  module Generators
    # `rails g symple:install [--target native|socketio]`: writes config/initializers/symple.rb.
    class InstallGenerator < Rails::Generators::Base
      source_root File.expand_path("templates", __dir__)
      desc "Creates config/initializers/symple.rb with symple's settings and what each does."
      class_option :target, type: :string, default: "native",
                            desc: "native (symple server, the v4 Node server) or socketio (npm symple 2.x)"

      def check_target
        return if %w[native socketio].include?(options[:target])

        raise Thor::Error, "--target must be native or socketio, not #{options[:target].inspect}"
      end

      def create_initializer
        template "symple.rb.tt", "config/initializers/symple.rb"
      end

      def show_next_steps
        say <<~TEXT

          Next: include Symple::Broadcasts in a model (symple_broadcast to: :user_id) and
          Symple::SessionSync in your token model (symple_session user: :user_id).
          In tests: require "symple/rspec" and call Symple::Testing.fake! (no Redis needed).
        TEXT
      end

      private

      def app_slug
        Rails.application ? Rails.application.class.module_parent_name.underscore : "app"
      rescue StandardError
        "app"
      end
    end
  end
end
