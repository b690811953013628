# frozen_string_literal: true

# A post pushes to its author's browsers once its row is committed.
class Post < ApplicationRecord
  belongs_to :user
  include Symple::Broadcasts # pushed after commit: a rolled-back transaction pushes nothing
  symple_broadcast on: :create, to: :user_id, data: ->(post) { post.slice(:id, :title) }
end
