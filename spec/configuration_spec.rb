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

    Symple.configure do |c|
      c.target = :socketio
      c.key = "app"
      c.namespace = "/chat"
    end
    expect(Symple::Emitter.new.to("r").packet({ type: "message" })[0]).to eq("app#/chat#r#")
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
    expect { Symple.configure { |c| c.callback_errors = :ignore } }.to raise_error(Symple::ConfigurationError, /:log or :raise/)
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
