# frozen_string_literal: true

ActiveRecord::Schema.define do
  create_table :users, force: true do |t|
    t.string :name, null: false, index: { unique: true }
  end
  create_table :api_tokens, force: true do |t|
    t.string :token, null: false, index: { unique: true }
    t.references :user, null: false
    t.timestamps
  end
  create_table :posts, force: true do |t|
    t.references :user, null: false
    t.string :title, null: false
    t.timestamps
  end
end
