# frozen_string_literal: true

# No as_json, no to_h, even with ActiveSupport loaded (it gives every Object an as_json).
class SpecOpaque < BasicObject; end

# Every bad input raises a Symple::Error subclass whose message names the problem, and
# publishes nothing.
RSpec.describe "bad input" do
  let(:native) { native_emitter }
  let(:sio) { socketio_emitter }

  around do |example|
    sent = -> { %w[publish spublish xadd].sum { |c| calls(c) } }
    before = sent.call
    example.run
    expect(sent.call).to eq(before), "a bad input published something"
  end

  def expect_error(klass, pattern, &block)
    expect(&block).to raise_error(klass, pattern)
  end

  it "a message that is not a Hash" do
    expect_error(Symple::InvalidMessage, /a message must be a Hash, not Array/) { native.to("a").emit([1]) }
    expect_error(Symple::InvalidMessage, /a message must be a Hash, not String/) { sio.emit_raw("x") }
  end

  it "a native message without a recipient" do
    expect_error(Symple::MissingRecipient, /no recipient: the native target needs `to`/) { native.send(1) }
    expect(Symple::MissingRecipient.ancestors).to include(Symple::InvalidMessage, Symple::Error, StandardError)
  end

  it "a message without a type, or a bad `to` of its own" do
    expect_error(Symple::InvalidMessage, /message has no `type`/) { native.to("a").emit({ data: 1 }) }
    expect_error(Symple::InvalidMessage, /`to` must be an address string or an array of rooms/) do
      sio.emit({ type: "message", to: { room: 1 } })
    end
  end

  it "values with no JSON form name their class" do
    expect_error(Symple::InvalidMessage, /cannot send SpecOpaque \(#<SpecOpaque/) { native.to("a").send(SpecOpaque.new) }
    failing = Class.new { def as_json(*) = raise(ArgumentError, "as_json failed") }
    expect_error(ArgumentError, /as_json failed/) { native.to("a").send([failing.new]) }
    expect_error(Symple::InvalidMessage, /the Float NaN has no JSON form/) { native.to("a").send(Float::NAN) }
    expect_error(Symple::InvalidMessage, /the Float inf has no JSON form/) { native.to("a").send(Float::INFINITY) }
    expect_error(Symple::InvalidMessage, /Integer #{2**64} is outside the 64-bit range/) { native.to("a").send(2**64) }
    expect_error(Symple::InvalidMessage, /Hash key must be a String, Symbol or Integer, not Array/) do
      native.to("a").send({ [1] => 2 })
    end
    expect_error(Symple::InvalidMessage, /binary String is not valid UTF-8/) { native.to("a").send("\xff\xfe".b) }
    expect_error(Symple::InvalidMessage, /cannot be read as UTF-8/) { native.to("a").send("\xff".dup.force_encoding("UTF-8")) }
    cyclic = []
    cyclic << cyclic
    expect_error(Symple::InvalidMessage, /nested more than 128 levels deep/) { native.to("a").send(cyclic) }
  end

  it "bad rooms" do
    expect_error(Symple::InvalidMessage, /empty room name/) { sio.to("").send(1) }
    expect_error(Symple::InvalidMessage, /a room is a String, Symbol or Integer .* not NilClass/) { sio.to(nil) }
    expect_error(Symple::InvalidMessage, /not Float \(1.5\)/) { sio.to(1.5) }
    expect_error(Symple::InvalidMessage, /room #{2**64} is outside the 64-bit integer range/) { sio.to(2**64) }
    expect_error(Symple::InvalidAddress, /invalid address/) { native.to("|").send(1) }
  end

  it "a bad sender" do
    expect_error(Symple::InvalidAddress, /empty address/) { native.from("") }
    expect_error(Symple::InvalidAddress, /empty address/) { native_emitter(from: "") }
  end

  it "reserved Socket.IO events" do
    expect_error(Symple::ReservedEvent, /"connect" is a reserved Socket.IO event name/) { sio.event("connect") }
    expect_error(Symple::ReservedEvent, /"disconnect" is a reserved/) { sio.emit_event("disconnect", 1) }
    expect_error(Symple::InvalidMessage, /empty Socket.IO event name/) { sio.event("") }
  end

  it "what the native target cannot do" do
    expect_error(Symple::Unsupported, /`except` needs the Socket.IO target/) { native.to("a").except("b").send(1) }
    expect_error(Symple::Unsupported, /need a Socket.IO target/) { native.to("a").sockets_join("x") }
    expect_error(Symple::Unsupported, /need a Socket.IO target/) { native.disconnect_sockets }
    expect_error(Symple::Unsupported, /custom events need a Socket.IO target/) { native.to("a").emit_event("x") }
  end

  it "rooms the sharded and Streams adapters cannot name" do
    %i[socketio_sharded socketio_streams].each do |target|
      e = Symple::Emitter.new(redis: redis_url, target: target)
      expect_error(Symple::InvalidMessage, /integer room 9007199254740993 is beyond JavaScript's safe integers/) do
        e.to(9_007_199_254_740_993).send(1)
      end
      expect_error(Symple::InvalidMessage, /safe integers/) { e.except(-(2**60)).send(1) }
      expect_error(Symple::InvalidMessage, /safe integers/) { e.to("a").sockets_join(2**53) }
      expect_error(Symple::InvalidMessage, /no rooms to join or leave/) { e.to("a").sockets_leave([]) }
      expect_error(Symple::ReservedEvent, /"connect" is a reserved/) { e.emit_event("connect") }
      expect_error(Symple::InvalidMessage, /safe integers/) { e.to(2**53).emit_batch([{ type: "message" }]) }
    end
  end

  it "bad message parts" do
    expect_error(Symple::InvalidMessage, /unknown command action "nope"/) { native.to("a").send_command("n", :nope) }
    expect_error(Symple::InvalidMessage, /empty node/) { native.to("a").send_command("") }
    expect_error(Symple::InvalidMessage, /empty name/) { native.to("a").send_event("") }
    expect_error(Symple::InvalidMessage, /presence peer: missing field `user`/) { native.to("a").send_presence(name: "x") }
    expect_error(Symple::InvalidMessage, /presence peer: invalid type: integer `7`, expected a string/) do
      native.to("a").send_presence(user: 7)
    end
    expect_error(Symple::InvalidMessage, /emit_batch takes an Array/) { native.instance_variable_get(:@native).emit_batch({}) }
  end

  it "bad settings" do
    expect_error(Symple::ConfigurationError,
                 /unknown target :mqtt: use :native, :native_rooms, :native_history, :socketio, :socketio_sharded, :socketio_streams/) do
      Symple::Emitter.new(target: :mqtt)
    end
    expect_error(Symple::ConfigurationError, /unknown subscription mode "private"/) do
      Symple::Emitter.new(target: :socketio_sharded, subscription_mode: :private)
    end
    expect_error(Symple::ConfigurationError, /maxlen must be a positive Integer, not -1/) do
      Symple::Emitter.new(target: "socketio-streams", maxlen: -1)
    end
    expect_error(Symple::ConfigurationError, /maxlen must be at least 1/) do
      Symple::Emitter.new(target: :socketio_streams, maxlen: 0)
    end
    expect_error(Symple::ConfigurationError, /never read/) do
      Symple::Emitter.new(target: :socketio_streams, stream_count: 3, namespace: "/private")
    end
    expect_error(Symple::ConfigurationError, /redis: must be a Redis URL String or a redis-rb client, not Integer/) do
      Symple::Emitter.new(redis: 6379)
    end
    expect_error(Symple::ConfigurationError, /redis: is an empty String/) { Symple::Session.new(redis: " ") }
    expect_error(Symple::ConfigurationError, /connect_timeout must be a positive number of seconds, not 0/) do
      Symple::Emitter.new(connect_timeout: 0)
    end
    expect_error(Symple::ConfigurationError, /empty Socket.IO adapter key/) { socketio_emitter(key: "") }
    expect_error(Symple::ConfigurationError, %r{invalid Redis URL \(nope://x\): unsupported scheme nope://}) do
      Symple::Emitter.new(redis: "nope://x")
    end
    # Symple.configure checks the target settings at once (a Rails app fails at boot).
    expect_error(Symple::ConfigurationError, /stream_count must be a positive Integer, not "2"/) do
      Symple.configure { |c| c.stream_count = "2" }
    end
  end

  it "Redis down" do
    port = Support::RedisServer.free_port
    expect_error(Symple::ConnectionError, /redis connection error \(redis:\/\/127.0.0.1:#{port}\)/) do
      Symple::Emitter.new(redis: "redis://127.0.0.1:#{port}")
    end
  end
end
