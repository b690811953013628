# frozen_string_literal: true

require "active_support/notifications"
require "stringio"

RSpec.describe "Symple.configure" do
  it "sets the defaults that new emitters and sessions use" do
    Symple.configure do |c|
      c.target = "native"
      c.from = "rails|web-1"
    end
    packet = Symple::Emitter.new.to("alice").packet({ type: "message" })
    expect(packet[0]).to eq("symple:broadcast")
    expect(JSON.parse(packet[1])["from"]).to eq("rails|web-1")

    # native-rooms: the room's own channel, as an emit envelope (only instances with members
    # of the room receive it); several rooms go to symple:broadcast.
    Symple.configure { |c| c.target = :native_rooms }
    packet = Symple::Emitter.new.to("alice").packet({ type: "message" })
    expect(packet[0]).to eq("symple:room:alice")
    envelope = JSON.parse(packet[1])
    expect(envelope.slice("v", "kind")).to eq("v" => 2, "kind" => "emit")
    expect(envelope["message"]).to include("to" => "alice", "from" => "rails|web-1")
    expect(Symple::Emitter.new.to(%w[a b]).packet({ type: "message" })[0]).to eq("symple:broadcast")

    Symple.configure do |c|
      c.target = :socketio
      c.key = "app"
      c.namespace = "/chat"
    end
    expect(Symple::Emitter.new.to("r").packet({ type: "message" })[0]).to eq("app#/chat#r#")
  end

  it "names every target and its options, in Ruby's and the CLI's spelling" do
    Symple.configure do |c|
      c.target = "socketio-sharded"
      c.key = "socket.io"
      c.subscription_mode = :static
    end
    e = Symple::Emitter.new
    expect(e.target).to eq(:socketio_sharded)
    channel, payload, command = e.to("team").packet({ type: "message", id: "m1" })
    expect([channel, command]).to eq(["socket.io#/#", "SPUBLISH"])
    expect(JSON.parse(payload)).to eq(
      "type" => 3, "uid" => "emitter", "nsp" => "/",
      "data" => { "packet" => { "type" => 2, "data" => ["message", { "type" => "message", "id" => "m1", "from" => "server" }] },
                  "opts" => { "rooms" => ["team"], "except" => [], "flags" => {} } }
    )
    expect(Symple::Emitter.new(subscription_mode: "dynamic_private").to("team").packet({ type: "m" })[0])
      .to eq("socket.io#/#team#")

    Symple.configure do |c|
      c.target = :socketio_streams
      c.stream = "events"
      c.maxlen = 50
    end
    channel, payload, command = Symple::Emitter.new.to(7).packet({ type: "m", id: "x" })
    expect([channel, command, JSON.parse(payload)["opts"]["rooms"]]).to eq(["events", "XADD", [7]])
    expect(Symple::Emitter.new(stream_count: 2).packet({ type: "m", to: "a" })[0]).to eq("events-1")
  end

  it "starts from SYMPLE_TARGET" do
    old = ENV.fetch("SYMPLE_TARGET", nil)
    ENV["SYMPLE_TARGET"] = "socketio-streams"
    expect(Symple::Configuration.new.target).to eq(:socketio_streams)
    ENV["SYMPLE_TARGET"] = "kafka"
    expect { Symple::Configuration.new }.to raise_error(Symple::ConfigurationError, /unknown target "kafka"/)
  ensure
    ENV["SYMPLE_TARGET"] = old
  end

  it "shares one emitter and one session store, rebuilt after configure" do
    e = Symple.emitter
    expect(Symple.emitter).to equal(e)
    expect(Symple.session).to equal(Symple.session)
    Symple.configure { |c| c.target = :native }
    expect(Symple.emitter).not_to equal(e)
    expect(Symple.emitter.target).to eq(:native)
    Symple.session.set("t", { user: "alice" })
    expect(admin.exists?("symple:session:t")).to be(true)
  end

  it "makes new emitters queued with queued = true" do
    Symple.configure { |c| c.queued = true }
    expect(Symple::Emitter.new.queued?).to be(true)
    expect(Symple::Emitter.new(queued: false).queued?).to be(false)
  end

  it "refuses unknown values" do
    expect { Symple.configure { |c| c.target = :mqtt } }.to raise_error(Symple::ConfigurationError, /unknown target :mqtt/)
    expect { Symple.configure { |c| c.callback_errors = :ignore } }
      .to raise_error(Symple::ConfigurationError, /:log, :retry or :raise/)
    expect { Symple.configure { |c| c.pool_size = 0 } }.to raise_error(Symple::ConfigurationError, /pool_size/)
  end

  it "is strict about programmer errors in development and test only" do
    Symple.configure { |c| c.strict = nil }
    %w[development test].each do |env|
      with_env("RAILS_ENV" => env) { expect(Symple.config.strict?).to be(true) }
    end
    with_env("RAILS_ENV" => "production") { expect(Symple.config.strict?).to be(false) }
    with_env("RAILS_ENV" => nil, "RACK_ENV" => "staging") { expect(Symple.config.strict?).to be(false) }
    with_env("RAILS_ENV" => nil, "RACK_ENV" => nil) { expect(Symple.config.strict?).to be(true) }
    Symple.configure { |c| c.strict = false }
    with_env("RAILS_ENV" => "test") { expect(Symple.config.strict?).to be(false) }
  end

  it "logs to the configured logger, else $stderr" do
    io = StringIO.new
    Symple.configure { |c| c.logger = Logger.new(io) }
    Symple.logger.error("hello")
    expect(io.string).to include("hello")
    Symple.configure { |c| c.logger = nil }
    expect(Symple.logger).to be_a(Logger)
  end

  describe "instrumentation" do
    def events(name)
      seen = []
      sub = ActiveSupport::Notifications.subscribe(name) { |*args| seen << ActiveSupport::Notifications::Event.new(*args) }
      yield
      seen
    ensure
      ActiveSupport::Notifications.unsubscribe(sub)
    end

    it "publishes emit.symple for every publish" do
      e = native_emitter.to("alice")
      seen = events("emit.symple") do
        e.send(1)
        e.send_event("x", {})
        e.emit_batch([{ type: "message" }] * 3)
      end
      expect(seen.map { |ev| ev.payload.values_at(:method, :target, :count) })
        .to eq([[:send_message, :native, 1], [:send_event, :native, 1], [:emit_batch, :native, 3]])
    end

    it "publishes emit.symple for a failed publish too, with the exception" do
      seen = events("emit.symple") do
        expect { native_emitter.send(1) }.to raise_error(Symple::MissingRecipient)
      end
      expect(seen.size).to eq(1)
      expect(seen.first.payload[:exception]&.first).to eq("Symple::MissingRecipient")
    end

    it "publishes session.symple and flush.symple" do
      seen = events(/\A(session|flush)\.symple\z/) do
        Symple::Session.new.set("t", { user: "a" })
        native_emitter.flush
      end
      expect(seen.map(&:name)).to eq(%w[session.symple flush.symple])
      expect(seen.first.payload).to eq(operation: :set)
    end
  end
end
