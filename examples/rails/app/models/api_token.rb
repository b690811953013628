# frozen_string_literal: true

# One row per login. Its Redis session follows the row: created on login, deleted on logout.
# The session's `user` is the integer id, so `Symple.emitter.to(user.id)` reaches this user.
class ApiToken < ApplicationRecord
  belongs_to :user
  has_secure_token :token
  include Symple::SessionSync # the Redis session follows the row, after commit
  symple_session token: :token, user: :user_id, name: ->(t) { t.user.name }, rooms: ["lobby"], ttl: 1.day
end
