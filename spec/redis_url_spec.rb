# frozen_string_literal: true

RSpec.describe Symple::RedisURL do
  def url_of(**opts)
    described_class.resolve(Redis.new(**opts))
  end

  it "passes URL strings through" do
    expect(described_class.resolve("rediss://h:1/2")).to eq("rediss://h:1/2")
    expect(described_class.resolve(URI("redis://h:1"))).to eq("redis://h:1")
  end

  it "reads host, port, db, username and password of a redis-rb client, escaping them" do
    expect(url_of(host: "10.0.0.5", port: 6380, db: 7)).to eq("redis://10.0.0.5:6380/7")
    expect(url_of(url: "redis://user:p%40ss%3Aw@h:1/3")).to eq("redis://user:p%40ss%3Aw@h:1/3")
    expect(url_of(host: "h", password: "a b")).to eq("redis://:a%20b@h:6379/0")
    expect(url_of(host: "::1", port: 1)).to eq("redis://[::1]:1/0")
  end

  it "keeps TLS and unix sockets" do
    expect(url_of(url: "rediss://h:1/0")).to eq("rediss://h:1/0")
    expect(url_of(path: "/run/redis.sock", db: 2)).to eq("unix:///run/redis.sock?db=2")
    expect(url_of(path: "/run/redis.sock")).to eq("unix:///run/redis.sock")
  end

  it "carries redis-rb's TLS settings: its CA file, or no checks (warned about once)" do
    expect(url_of(url: "rediss://h:1/0", ssl_params: { ca_file: "/etc/ca.pem" }))
      .to eq("rediss://h:1/0?tls_ca=%2Fetc%2Fca.pem")
    log = StringIO.new
    Symple.configure { |c| c.logger = Logger.new(log) }
    insecure = url_of(url: "rediss://h:2/0", ssl_params: { verify_mode: OpenSSL::SSL::VERIFY_NONE })
    expect(insecure).to eq("rediss://h:2/0?tls_insecure=true")
    described_class.resolve(insecure)
    expect(log.string.scan("TLS certificate checks are off").size).to eq(1)
  end

  it "reads a redis-rb cluster client as one redis+cluster:// URL, and connects through it" do
    cluster = Support::RedisServer.instance(:cluster)
    client = Redis.new(cluster: cluster.ports.first(2).map { |p| "redis://127.0.0.1:#{p}" })
    url = described_class.resolve(client)
    expect(url).to start_with("redis+cluster://127.0.0.1:")
    expect(url.split(",").size).to be >= 2
    Symple::Session.new(redis: client).set("via-cluster-client", { user: "a" })
    expect(cluster.admin.exists?("symple:session:via-cluster-client")).to be(true)
  ensure
    cluster&.flush
  end

  it "works end to end: a password-protected Redis, reached through a client's settings" do
    admin.config(:set, "requirepass", "p@ss word")
    client = Redis.new(url: redis_url, password: "p@ss word", db: 1)
    Symple::Session.new(redis: client).set("x", { user: "a" })
    expect(client.exists?("symple:session:x")).to be(true)
  ensure
    Redis.new(url: redis_url, password: "p@ss word").config(:set, "requirepass", "")
  end

  it "refuses what has no single URL" do
    expect { described_class.resolve(Redis.new(sentinels: [{ host: "s", port: 1 }], url: "redis://mymaster")) }
      .to raise_error(Symple::ConfigurationError, /Sentinel/)
    expect { described_class.resolve(Object.new) }
      .to raise_error(Symple::ConfigurationError, /not Object/)
  end
end
