# frozen_string_literal: true

require "active_support"
require "active_support/notifications"

# The LogSubscriber writes a debug line per push to Symple.logger (Rails.logger in Rails).
RSpec.describe Symple::LogSubscriber do
  let(:io) { StringIO.new }

  around do |example|
    subscriber = Symple::LogSubscriber.new
    handles = %w[emit.symple session.symple].map { |e| ActiveSupport::Notifications.subscribe(e, subscriber) }
    example.run
  ensure
    handles&.each { |h| ActiveSupport::Notifications.unsubscribe(h) }
  end

  before { Symple.configure { |c| c.logger = Logger.new(io, level: Logger::DEBUG) } }

  it "logs each push with its rooms, target and message at debug level" do
    native_emitter.to(42).emit({ type: "message", subtype: "post:create", data: { id: 1 } })
    native_emitter.to(%w[a b]).send_event("deploy", { v: 3 })
    Symple.session.set("tok", { user: "alice" })
    lines = io.string.lines.map { |l| l.gsub(/\e\[[\d;]*m/, "") } # without colours
    expect(lines[0]).to match(/DEBUG -- :\s+Symple emit to \[42\] \(native, [\d.]+ms\) \{"type":"message","subtype":"post:create","data":\{"id":1\}\}$/)
    expect(lines[1]).to match(/Symple send_event to \["a", "b"\] \(native, [\d.]+ms\)/)
    expect(lines[2]).to match(/Symple session set \([\d.]+ms\)/)
  end

  it "writes nothing above debug level" do
    Symple.configure { |c| c.logger = Logger.new(io, level: Logger::INFO) }
    native_emitter.to(42).send(1)
    expect(io.string).to eq("")
  end
end
