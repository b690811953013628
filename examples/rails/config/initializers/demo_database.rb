# frozen_string_literal: true

# The demo runs on a fresh sqlite3 file each time: load the schema into it when it is empty.
# (A real app runs `bin/rails db:schema:load` instead.)
Rails.application.config.after_initialize do
  ActiveRecord::Schema.verbose = false
  load Rails.root.join("db/schema.rb") unless ActiveRecord::Base.connection.table_exists?(:users)
end
