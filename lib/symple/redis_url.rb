# frozen_string_literal: true

require "uri"

module Symple
  # Turns the `redis:` option into the URL the extension connects with (the URL forms of the
  # Rust crate: redis://, rediss:// with ?tls_ca= / ?tls_insecure=true, redis+cluster://):
  # a URL String as it is, or the settings of a redis-rb client (4.x `_client.options`, 5.x
  # `_client.config`, a 4.x `Redis.new(cluster: [...])`). The extension opens its own
  # connection; the client is never used from Rust.
  module RedisURL
    DEFAULT = "redis://127.0.0.1:6379"

    module_function

    def resolve(redis)
      url = case redis
            when nil then default
            when String
              raise ConfigurationError, "redis: is an empty String; give a Redis URL" if redis.strip.empty?

              redis
            when URI::Generic then redis.to_s
            else from_client(redis)
            end
      warn_if_insecure(url)
      url
    end

    # Without certificate checks anyone on the network path can read and forge the traffic:
    # said once per URL, at start-up.
    def warn_if_insecure(url)
      return unless url =~ /[?&]tls_insecure=(true|1|yes)\b/i

      @warned ||= {}
      return if @warned[url]

      @warned[url] = true
      Symple.logger.warn("symple: TLS certificate checks are off (tls_insecure): development only")
    end

    # SYMPLE_REDIS_URL, then REDIS_URL, then localhost (the same order as the Rust crate).
    def default
      [ENV["SYMPLE_REDIS_URL"], ENV["REDIS_URL"]].find { |u| u && !u.empty? } || DEFAULT
    end

    def from_client(redis)
      client = redis._client if redis.respond_to?(:_client)
      if defined?(::Redis::Cluster) && client.is_a?(::Redis::Cluster)
        from_cluster(client)
      elsif client.respond_to?(:options) && client.options.is_a?(Hash)
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

    # A redis-rb 4.x cluster client: its seed nodes as one redis+cluster:// URL.
    def from_cluster(client)
      nodes = client.instance_variable_get(:@option)&.per_node_key&.values
      if nodes.nil? || nodes.empty?
        raise ConfigurationError,
              "redis: cannot read the nodes of this cluster client; pass redis+cluster://host:port,host:port"
      end

      first = from_settings(nodes.first.merge(db: 0))
      scheme, rest = first.split("://", 2)
      userinfo = rest.include?("@") ? rest[0..rest.index("@")] : ""
      hosts = nodes.map { |o| "#{o[:host].to_s.include?(":") ? "[#{o[:host]}]" : o[:host]}:#{o[:port]}" }
      query = first[/\?.*\z/].to_s
      "#{scheme}+cluster://#{userinfo}#{hosts.join(",")}#{query}"
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
      "#{scheme}://#{userinfo}#{host}:#{o[:port]}/#{o[:db].to_i}#{tls_query(scheme, o[:ssl_params])}"
    end

    # redis-rb's ssl_params as the URL's TLS settings: its CA file, or no checks at all.
    def tls_query(scheme, params)
      return "" unless scheme == "rediss" && params.is_a?(Hash)

      if defined?(OpenSSL::SSL) && params[:verify_mode] == OpenSSL::SSL::VERIFY_NONE
        "?tls_insecure=true"
      elsif params[:ca_file]
        "?tls_ca=#{escape(params[:ca_file])}"
      else
        ""
      end
    end

    def escape(s)
      URI.encode_www_form_component(s.to_s).gsub("+", "%20")
    end
  end
end
