# frozen_string_literal: true

require "tmpdir"

module Support
  # A real ActiveRecord on a sqlite3 file (one file, so every connection sees the same
  # data), set up on first use.
  module Database
    def self.setup
      return if @setup

      require "active_record"
      require "symple/broadcasts"
      require "symple/session_sync"
      dir = Dir.mktmpdir("symple-spec-db")
      at_exit { FileUtils.rm_rf(dir) if Process.pid == OWNER }
      ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: File.join(dir, "spec.sqlite3"))
      ActiveRecord::Migration.verbose = false
      ActiveRecord::Schema.define do
        create_table :users do |t|
          t.string :username, null: false
          t.string :display_name
          t.string :teams
        end
        create_table :posts do |t|
          t.string :title
          t.integer :user_id
          t.timestamps
        end
        create_table :api_tokens do |t|
          t.string :token, null: false
          t.integer :user_id, null: false
          t.timestamps
        end
      end
      require_relative "../fixtures/models"
      @setup = true
    end

    OWNER = Process.pid
  end
end
