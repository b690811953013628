# frozen_string_literal: true

require "fileutils"
require "openssl"
require "socket"
require "tmpdir"
require "uri"

module Support
  # The one Redis fixture of the specs: real redis-servers on free loopback ports with
  # persistence off, of four kinds (:plain, :tls with certificates made here, :acl that only
  # lets an ACL user in, and :cluster, 3 masters with a replica each). Each kind starts on
  # first use, once per run, and is stopped by PID at exit by the process that started it
  # (forked children run at_exit handlers too). The Ruby bench starts its redis-server here too,
  # with a launcher prefix that pins it to a CPU (`taskset -c 0`).
  class RedisServer
    KINDS = %i[plain tls acl cluster].freeze
    ACL_USER = "symple"
    ACL_PASSWORD = "p@ss:w/rd"
    ACL_DB = 3

    attr_reader :kind, :ports, :ca_file

    def self.instance(kind = :plain)
      raise ArgumentError, "unknown Redis kind #{kind.inspect}" unless KINDS.include?(kind)

      (@instances ||= {})[kind] ||= new(kind).tap(&:start)
    end

    # The kinds the parametrized specs run on: every kind, or SYMPLE_SPEC_REDIS=plain,tls,...
    def self.kinds
      wanted = ENV.fetch("SYMPLE_SPEC_REDIS", "").split(",").map(&:strip).reject(&:empty?).map(&:to_sym)
      wanted.empty? ? KINDS : KINDS & wanted
    end

    def self.free_port
      s = TCPServer.new("127.0.0.1", 0)
      s.addr[1]
    ensure
      s&.close
    end

    def initialize(kind, launcher: [])
      @kind = kind
      @launcher = launcher
      @pids = []
    end

    def start
      @owner = Process.pid
      @dir = Dir.mktmpdir("symple-spec-#{kind}-")
      at_exit { stop if Process.pid == @owner }
      make_certificates if kind == :tls
      # A port found free can be taken before redis-server binds it (outgoing connections get
      # ports from the same range), and then that server exits: start the set again on fresh
      # ports.
      3.times do
        next stop_servers unless spawn_all

        create_cluster if kind == :cluster
        return
      end
      raise "redis-server (#{kind}) exited at start three times (ports taken?)"
    end

    # Spawns every node on fresh ports; false when one exited before answering.
    def spawn_all
      @ports = Array.new(kind == :cluster ? 6 : 1) { RedisServer.free_port }
      @ports.each do |port|
        @pids << Process.spawn(*@launcher, "redis-server", *node_args(port), out: File::NULL, err: File::NULL)
      end
      @ports.each_index.all? do |i|
        Wait.wait_until("redis-server (#{kind}) on port #{@ports[i]}") do
          next :exited if Process.waitpid(@pids[i], Process::WNOHANG)

          ping(i)
        end != :exited
      end
    end

    # The port of the first node.
    def port
      @ports.first
    end

    # The URL symple takes for this Redis.
    def url
      case kind
      when :plain then "redis://127.0.0.1:#{port}"
      when :tls then "rediss://127.0.0.1:#{port}?tls_ca=#{@ca_file}"
      when :acl
        "redis://#{ACL_USER}:#{URI.encode_www_form_component(ACL_PASSWORD)}@127.0.0.1:#{port}/#{ACL_DB}"
      when :cluster then "redis+cluster://#{@ports.first(2).map { |p| "127.0.0.1:#{p}" }.join(",")}"
      end
    end

    # redis-rb settings for node i alone.
    def node_options(i = 0)
      base = { host: "127.0.0.1", port: @ports[i], timeout: 10 }
      case kind
      when :tls then base.merge(ssl: true, ssl_params: { ca_file: @ca_file })
      when :acl then base.merge(username: ACL_USER, password: ACL_PASSWORD, db: ACL_DB)
      else base
      end
    end

    # A redis-rb client for checks and set-up: to the node, or to the whole cluster (routing
    # by key); a new one per process.
    def admin
      @admin = nil if @admin_pid != Process.pid
      @admin_pid = Process.pid
      @admin ||= client
    end

    def client
      return Redis.new(cluster: @ports.map { |p| "redis://127.0.0.1:#{p}" }, timeout: 10) if kind == :cluster

      Redis.new(**node_options)
    end

    # One redis-rb client per node.
    def each_node
      @ports.each_index do |i|
        r = Redis.new(**node_options(i))
        begin
          yield r
        ensure
          r.close
        end
      end
    end

    # Empties every master.
    def flush
      each_node { |r| r.flushall if r.info("replication")["role"] == "master" }
    end

    # Keys matching `pattern`, over every node.
    def keys(pattern)
      found = []
      each_node { |r| found.concat(r.keys(pattern)) }
      found.uniq.sort
    end

    # How often Redis ran `command`, over every node (INFO commandstats).
    def calls(command)
      total = 0
      each_node { |r| total += r.info("commandstats").fetch(command, {}).fetch("calls", 0).to_i }
      total
    end

    # Closes every normal client connection on every node (the caller's own is spared).
    def kill_clients
      each_node { |r| r.client(:kill, "type", "normal", "skipme", "yes") }
    end

    def stop
      stop_servers
      FileUtils.rm_rf(@dir) if @dir
    end

    def stop_servers
      @pids.each do |pid|
        Process.kill(:KILL, pid)
        Process.wait(pid)
      rescue Errno::ESRCH, Errno::ECHILD
        nil
      end
      @pids.clear
    end

    private

    def node_args(port)
      common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", @dir]
      case kind
      when :plain then ["--port", port.to_s, *common]
      when :tls
        ["--port", "0", "--tls-port", port.to_s, "--tls-cert-file", "#{@dir}/server.pem",
         "--tls-key-file", "#{@dir}/server.key", "--tls-ca-cert-file", @ca_file,
         "--tls-auth-clients", "no", *common]
      when :acl
        ["--port", port.to_s, *common, "--user", "default", "off",
         "--user", ACL_USER, "on", ">#{ACL_PASSWORD}", "~*", "&*", "+@all"]
      when :cluster
        ["--port", port.to_s, *common, "--cluster-enabled", "yes",
         "--cluster-port", RedisServer.free_port.to_s, "--cluster-config-file", "nodes-#{port}.conf",
         # Long while the cluster forms (on a loaded machine a 1 s handshake can time out
         # for good and redis-cli then waits forever); 1 s once it is up (create_cluster).
         "--cluster-node-timeout", "15000", "--cluster-replica-validity-factor", "0"]
      end
    end

    def ping(i)
      r = Redis.new(**node_options(i), timeout: 0.5)
      r.ping == "PONG"
    rescue Redis::BaseConnectionError, OpenSSL::SSL::SSLError, Errno::ECONNREFUSED
      false
    ensure
      r&.close
    end

    def create_cluster
      nodes = @ports.map { |p| "127.0.0.1:#{p}" }
      out = +""
      # redis-cli waits for the nodes to agree without a bound of its own.
      IO.popen(["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "1", "--cluster-yes"],
               err: %i[child out]) do |io|
        reader = Thread.new { io.each_char { |c| out << c } }
        unless reader.join(60)
          Process.kill(:KILL, io.pid)
          reader.join
        end
      end
      raise "redis-cli --cluster create failed (or took over 60 s): #{out}" unless $?.success?

      Wait.wait_until("the spec cluster to settle", timeout: 60) { cluster_ready? }
      each_node { |r| r.config(:set, "cluster-node-timeout", 1000) } # failovers in seconds
    end

    def cluster_ready?
      masters = 0
      each_node do |r|
        info = r.cluster(:info)
        return false unless info.include?("cluster_state:ok") && info.include?("cluster_slots_ok:16384")

        repl = r.info("replication")
        if repl["role"] == "master"
          masters += 1
        elsif repl["master_link_status"] != "up"
          return false
        end
      end
      masters == 3
    rescue Redis::BaseError
      false
    end

    # A CA and a server certificate for 127.0.0.1, signed by it.
    def make_certificates
      ca_key = OpenSSL::PKey::EC.generate("prime256v1")
      ca = certificate("symple spec CA", ca_key, ca_key, nil) do |c, ef|
        c.add_extension(ef.create_extension("basicConstraints", "CA:TRUE", true))
        c.add_extension(ef.create_extension("keyUsage", "keyCertSign,cRLSign", true))
      end
      key = OpenSSL::PKey::EC.generate("prime256v1")
      cert = certificate("127.0.0.1", key, ca_key, ca) do |c, ef|
        c.add_extension(ef.create_extension("subjectAltName", "IP:127.0.0.1,DNS:localhost"))
      end
      @ca_file = File.join(@dir, "ca.pem")
      File.write(@ca_file, ca.to_pem)
      File.write(File.join(@dir, "server.pem"), cert.to_pem)
      File.write(File.join(@dir, "server.key"), key.private_to_pem)
    end

    def certificate(name, key, signer_key, issuer)
      c = OpenSSL::X509::Certificate.new
      c.version = 2
      c.serial = rand(1 << 64)
      c.subject = OpenSSL::X509::Name.parse("/CN=#{name}")
      c.issuer = issuer ? issuer.subject : c.subject
      c.public_key = key
      c.not_before = Time.now - 60
      c.not_after = Time.now + 86_400
      ef = OpenSSL::X509::ExtensionFactory.new
      ef.subject_certificate = c
      ef.issuer_certificate = issuer || c
      yield c, ef
      c.sign(signer_key, OpenSSL::Digest.new("SHA256"))
      c
    end
  end
end
