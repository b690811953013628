# frozen_string_literal: true

require "uri"

module Symple
  # Turns the `redis:` option into the URL the extension connects with: a URL String as it
  # is, or the settings of a redis-rb client (4.x `_client.options`, 5.x `_client.config`).
  # The extension opens its own connection; the client is never used from Rust.
  module RedisURL
    DEFAULT = "redis://127.0.0.1:6379"

    module_function

    def resolve(redis)
      case redis
      when nil then default
      when String
        raise ConfigurationError, "redis: is an empty String; give a Redis URL" if redis.strip.empty?

        redis
      when URI::Generic then redis.to_s
      else from_client(redis)
      end
    end

    # SYMPLE_REDIS_URL, then REDIS_URL, then localhost (the same order as the Rust crate).
    def default
      [ENV["SYMPLE_REDIS_URL"], ENV["REDIS_URL"]].find { |u| u && !u.empty? } || DEFAULT
    end

    def from_client(redis)
      client = redis._client if redis.respond_to?(:_client)
      if client.respond_to?(:options) && client.options.is_a?(Hash)
        from_settings(client.options)
      elsif client.respond_to?(:config)
        c = client.config
        from_settings(scheme: c.respond_to?(:ssl?) && c.ssl? ? "rediss" : "redis",
                      host: c.host, port: c.port, path: c.path, db: c.db,
                      username: c.username, password: c.password)
      elsif redis.respond_to?(:with) && !redis.respond_to?(:_client)
        redis.with { |r| from_client(r) } # a ConnectionPool of clients
      else
        raise ConfigurationError,
              "redis: must be a Redis URL String or a redis-rb client, not #{redis.class}"
      end
    end

    def from_settings(o)
      if o[:sentinels]
        raise ConfigurationError, "redis: a Sentinel client has no single URL; pass the master's URL"
      end

      query = []
      query << "db=#{o[:db]}" if o[:db].to_i != 0
      return "unix://#{o[:path]}#{"?#{query.join("&")}" unless query.empty?}" if o[:path]

      scheme = o[:ssl] || o[:scheme] == "rediss" ? "rediss" : "redis"
      userinfo = ""
      if o[:password]
        user = o[:username] ? escape(o[:username]) : ""
        userinfo = "#{user}:#{escape(o[:password])}@"
      elsif o[:username]
        userinfo = "#{escape(o[:username])}@"
      end
      host = o[:host].to_s.include?(":") ? "[#{o[:host]}]" : o[:host]
      "#{scheme}://#{userinfo}#{host}:#{o[:port]}/#{o[:db].to_i}"
    end

    def escape(s)
      URI.encode_www_form_component(s.to_s).gsub("+", "%20")
    end
  end
end
