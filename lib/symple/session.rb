# frozen_string_literal: true

module Symple
  # Sessions in Redis (`symple:session:<token>`): what a Symple server reads when a client
  # connects with that token.
  #
  #   session = Symple::Session.new(redis: $redis)
  #   session.set(token, { user: user.username, name: user.display_name,
  #                        rooms: user.teams.pluck(:slug) }, ttl: 1.week)
  #   session.get(token)            # => { "user" => "alice", "name" => "Alice", "rooms" => [...] }
  #   session.touch(token, ttl: 1.week)
  #   session.delete(token)
  #
  # The data is a Hash with Symbol or String keys and a `user`: a non-empty String, or an
  # Integer (a Rails id, kept an Integer in Redis so `to(user.id)` reaches it); `get` returns
  # String keys. A TTL is seconds (Integer or ActiveSupport::Duration); nil means never.
  # Validation and the Redis scripts are the Rust crate's, so Ruby and Rust agree exactly.
  class Session
    # One of a user's live sessions; expires_at is a Time, or nil for never.
    Info = Struct.new(:token, :expires_at, keyword_init: true)

    I64_MAX = 2**63 - 1
    private_constant :I64_MAX

    # Writes the Redis session of one Symple::SessionSync row again, from the row as it is
    # (its fields and full TTL; deleted when the row was destroyed): after an outage, or from
    # a console. Returns true.
    def self.sync(record)
      require "symple/session_sync"
      SessionSync.sync(record)
    end

    # All keyword arguments default to Symple.config (`pool_size:`: see
    # Configuration#pool_size).
    def initialize(redis: nil, connect_timeout: nil, response_timeout: nil, pool_size: nil)
      c = Symple.config
      @native = Native::SessionStore.connect(
        RedisURL.resolve(redis || c.redis),
        Configuration.seconds(:connect_timeout, connect_timeout || c.connect_timeout),
        Configuration.seconds(:response_timeout, response_timeout || c.response_timeout),
        Configuration.pool_size(pool_size || c.pool_size)
      )
    end

    # Writes the session, replacing any value under the token. Returns true.
    def set(token, data, ttl: nil)
      run(:set) { @native.set(token!(token), data, seconds(ttl)) }
      true
    end

    # The session Hash (String keys), or nil when there is none.
    def get(token)
      run(:get) { @native.get(token!(token)) }
    end

    # Extends the TTL; false when the session does not exist (it is never created).
    def touch(token, ttl:)
      ttl = seconds(ttl)
      raise InvalidSession, "touch needs a ttl: (seconds)" if ttl.nil?

      run(:touch) { @native.touch(token!(token), ttl) }
    end

    def exists?(token)
      run(:exists) { @native.exists?(token!(token)) }
    end

    # Deletes the session (logout); true when it existed.
    def delete(token)
      run(:delete) { @native.delete(token!(token)) }
    end

    # Creates a session and returns its token: a new random one, or `token:` (which must not
    # be in use).
    def create(data, ttl: nil, token: nil)
      if token.nil?
        run(:create) { @native.create(data, seconds(ttl)) }
      else
        run(:create) { @native.create_with_token(token!(token), data, seconds(ttl)) }
        token
      end
    end

    # Merges `fields` into an existing session, keeping its TTL; false when it does not exist.
    def update(token, fields)
      run(:update) { @native.update(token!(token), fields) }
    end

    # Seconds left; Float::INFINITY when it never expires; nil when there is no session.
    def ttl(token)
      left = run(:ttl) { @native.ttl(token!(token)) }
      left == -1 ? Float::INFINITY : left
    end

    # The user's live sessions, as Info structs.
    def list(user)
      run(:list) { @native.list(user!(user)) }.map do |token, at|
        Info.new(token: token, expires_at: at && Time.at(at))
      end
    end

    # Deletes every session of the user ("log out everywhere"); returns how many.
    def delete_user(user)
      run(:delete_user) { @native.delete_user(user!(user)) }
    end

    # Drops bookkeeping left by sessions that expired; returns how many entries it removed.
    # Cheap: run it from a periodic job.
    def cleanup
      run(:cleanup) { @native.cleanup }
    end

    def inspect
      "#<#{self.class.name}>"
    end

    private

    def run(operation, &block)
      Instrumentation.instrument(:session, { operation: operation }, &block)
    end

    def token!(token)
      return token if token.is_a?(String)
      return token.to_s if token.is_a?(Symbol)

      raise InvalidSession, "a token must be a String, not #{token.class} (#{token.inspect})"
    end

    def user!(user)
      return user if user.is_a?(String) || user.is_a?(Integer)

      raise InvalidSession, "a user is a String or an Integer, not #{user.class} (#{user.inspect})"
    end

    def seconds(ttl)
      s = case ttl
          when nil then return nil
          when Integer then ttl
          when Float then ttl.finite? ? ttl.ceil : nil
          else ttl.to_i if defined?(ActiveSupport::Duration) && ttl.is_a?(ActiveSupport::Duration)
          end
      return s if s && s <= I64_MAX && s >= -I64_MAX

      raise InvalidSession,
            "a TTL is a number of seconds (Integer or ActiveSupport::Duration) or nil, not #{ttl.inspect}"
    end
  end
end
