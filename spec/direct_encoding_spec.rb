# frozen_string_literal: true

# `emit_batch` and the queued `emit` encode a message Hash straight into packet bytes
# (ext/symple/src/view.rs), skipping the serde map `packet` builds through `convert`. These
# specs hold the two paths to the same bytes over a corpus, and check that input the direct
# path leaves to `convert` still works or raises exactly as before.
RSpec.describe "Direct encoding of Ruby messages" do
  UUID = /\h{8}-\h{4}-4\h{3}-\h{4}-\h{12}/n

  def native_of(emitter) = emitter.instance_variable_get(:@native)

  # Both packets; a generated id differs per packet, so the direct one's id is put into the
  # other before the bytes are compared.
  def expect_same_bytes(emitter, message)
    via_convert = native_of(emitter).packet(message)
    direct = native_of(emitter).direct_packet(message)
    expect(direct).not_to be_nil, "direct path refused #{message.inspect}"
    id = direct[1][UUID]
    expected = id ? via_convert[1].sub(UUID, id) : via_convert[1]
    expect(direct[0]).to eq(via_convert[0])
    expect(direct[1].b).to eq(expected.b), "bytes differ for #{message.inspect}"
  end

  big_ints = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2**31, 2**32 - 1, 2**32, 2**53 + 1,
              2**62 - 1, 2**62, 2**63 - 1, 2**63, 2**64 - 1, -1, -32, -33, -128, -129, -32_768, -32_769, -(2**31),
              -(2**31) - 1, -(2**62), -(2**62) - 1, -(2**63) + 1, -(2**63)]
  floats = [1.5, -0.0, 0.0, 2.0, -2.0, 0.1, 1e-7, 3.0e15, 1e19, -1e19, 1e300, -1e300, 2.0**63,
            -(2.0**63), 2.0**64, 123_456_789.125, Float::EPSILON, Float::MAX, Float::MIN]
  CORPUS = [
    { "type" => "message", "from" => "rails|worker-1", "to" => "alice", "subtype" => "chat",
      "data" => { "text" => "Build 4812 passed on main; deploying to staging in five minutes.",
                  "room" => "team-a", "n" => 42 } },
    { type: :message, to: "alice", data: { a: 1, b: :sym, c: [:x, "y"] } },
    { "type" => "message", "to" => "bob", "data" => { "s" => "text", "i" => 42, "neg" => -7, "f" => 2.5,
                                                    "t" => true, "fa" => false, "n" => nil,
                                                    "a" => [1, [2, [3, []]], {}], "h" => {} } },
    { "type" => "message", "to" => "u", "data" => "héllo ✓ 🎉 \"q\" \\ \n\t\u0001 </script> \u2028" },
    { "type" => "message", "to" => "u", "ключ" => "значение", "data" => { "ü" => "é", "🎉" => ["✓"] } },
    { "type" => "message", "to" => "u", "data" => big_ints },
    { "type" => "message", "to" => "u", "data" => floats },
    { "type" => "message", "to" => "u", "data" => big_ints.to_h { |i| ["k#{i}", i] } },
    { "type" => "message", "to" => "u",
      "data" => { "b" => 1, "10" => 2, "2" => 3, "01" => 4, "4294967295" => 5, "4294967294" => 6,
                  "-1" => 7, "0" => 8, "" => 9, "1.5" => 10 } },
    { "0" => "first", "type" => "message", "7" => 7, "to" => "u" },
    { "type" => "message", "to" => "u", "id" => "fixed-id" },
    { "type" => "message", "to" => "u", "id" => nil },
    { "type" => "message", "to" => "u", "id" => 17, "from" => "me|x" },
    { "type" => "message", "to" => "u", "from" => "someone" },
    { type: "message", to: "u", id: "sym-id", from: "sym|from" },
    { "type" => "message", "to" => "user|sess-1" },
    { "type" => "message", "to" => ["a", 4242, "user|s2"] },
    { "type" => "message", "to" => [1] },
    { "type" => "message", "to" => nil },
    { "type" => "presence", "to" => "u", "data" => { "user" => "x", "online" => true } },
    { "type" => "message", "to" => "u", "data" => "x" * 40 },
    { "type" => "message", "to" => "u", "data" => "y" * 300 },
    { "type" => "message", "to" => "u", "data" => "z" * 70_000 },
    { "type" => "message", "to" => "u", "data" => (1..20).to_a },
    { "type" => "message", "to" => "u", "data" => Array.new(70_000) { |i| i } },
    { "type" => "message", "to" => "u", "data" => (1..40).to_h { |i| ["key#{i}", i] } },
    { "type" => "message", "to" => "u", "data" => "héllo".b },
    { "type" => "message", "to" => "u".b, "data" => { "k".b => "v".encode("US-ASCII"), "é" => "ü".b } },
    { "type" => "message", "to" => "u", "data" => { a: { b: { c: { d: [[[[nil]]]] } } } } }
  ].freeze

  SOCKETIO = %i[socketio socketio_sharded socketio_streams].freeze
  TARGETS = [:native, *SOCKETIO].freeze

  ROUTES = {
    "no route" => ->(e) { e },
    "to(room)" => ->(e) { e.to("r") },
    "to(integer)" => ->(e) { e.to(4242) },
    "to(user|id)" => ->(e) { e.to("user|sess-9") },
    "to(several)" => ->(e) { e.to("a", 7, "b") },
    "from(...)" => ->(e) { e.from("worker|9") }
  }.freeze

  TARGETS.each do |target|
    ROUTES.each do |route_name, route|
      it "gives the bytes of the convert path (#{target}, #{route_name})" do
        emitter = route.call(Symple::Emitter.new(redis: redis_url, target: target))
        CORPUS.each do |message|
          unrouted = target == :native && %w[no\ route from(...)].include?(route_name) &&
                     message.values_at("to", :to).compact.empty?
          next if unrouted # native refuses a message with no recipient; checked below
          expect_same_bytes(emitter, message)
        end
      end
    end
  end

  it "gives the bytes of the convert path with except, volatile, compress, of and event" do
    SOCKETIO.each do |target|
      e = Symple::Emitter.new(redis: redis_url, target: target)
      [e.except("x"), e.to("a").except("user|s", 3), e.volatile, e.compress(true), e.of("/chat").to("r"),
       e.event("custom")].each do |routed|
        CORPUS.each { |m| expect_same_bytes(routed, m) }
      end
    end
  end

  it "leaves unusual input to the convert path, which handles it as before" do
    with_as_json = Class.new { def as_json(*) = { "kind" => "json" } }
    [{ "type" => "message", "to" => "u", "data" => "caf\xE9".dup.force_encoding("ISO-8859-1") },
     { "type" => "message", "to" => "u", "data" => with_as_json.new },
     { "type" => "message", "to" => "u", "data" => Struct.new(:x).new(1) },
     { "type" => "message", "to" => "u", "data" => { 1 => "integer key" } },
     { "type" => "message", "to" => "u", "data" => { a: 1, "a" => 2 } },
     { :type => "message", "type" => "event", "to" => "u" },
     { "type" => "message", "to" => "u", "data" => { "é".encode("UTF-16LE") => 1 } }].each do |message|
      TARGETS.map { |t| Symple::Emitter.new(redis: redis_url, target: t) }.each do |emitter|
        expect(native_of(emitter).direct_packet(message)).to be_nil
        expect(emitter.packet(message)).to be_an(Array)
        expect { emitter.emit_batch([message]) }.not_to raise_error
        queued = Symple::Emitter.new(redis: redis_url, target: emitter.target, queued: true)
        expect { queued.emit(message) }.not_to raise_error
        queued.flush
      end
    end
  end

  it "raises the same errors as before from emit_batch and the queued emit" do
    cyclic = []
    cyclic << cyclic
    # Each is refused on at least the targets listed; where a target accepts one, the two
    # paths must give the same bytes instead.
    bad = [
      [Symple::MissingRecipient, { "type" => "message" }, %i[native]],
      [Symple::InvalidMessage, { "to" => "a" }, %i[native]],
      [Symple::InvalidMessage, { "type" => 1, "to" => "a" }, %i[native]],
      [Symple::InvalidMessage, { "type" => "message", "to" => "a", "from" => 3 }, %i[native]],
      [Symple::InvalidAddress, { "type" => "message", "to" => "" }, TARGETS],
      [Symple::InvalidMessage, { "type" => "message", "to" => [] }, TARGETS],
      [Symple::InvalidMessage, { "type" => "message", "to" => 4242 }, TARGETS],
      [Symple::InvalidMessage, { "type" => "message", "to" => "a", "data" => Float::NAN }, TARGETS],
      [Symple::InvalidMessage, { "type" => "message", "to" => "a", "data" => 2**64 }, TARGETS],
      [Symple::InvalidMessage, { "type" => "message", "to" => "a", "data" => [-(2**63) - 1] }, TARGETS],
      [Symple::InvalidMessage, { "type" => "message", "to" => "a", "data" => -(2**64) }, TARGETS],
      [Symple::InvalidMessage, { "type" => "message", "to" => "a", "data" => 2**200 }, TARGETS],
      [Symple::InvalidMessage, { "type" => "message", "to" => "a", "data" => cyclic }, TARGETS],
      [Symple::InvalidMessage, { "type" => "message", "to" => "a", "data" => { nil => 1 } }, TARGETS],
      [Symple::InvalidMessage, { "type" => "message", "to" => "a", "data" => "\xFF".dup.force_encoding("UTF-8") }, TARGETS],
      [Symple::InvalidMessage, { "type" => "message", "to" => "a", "data" => "\xFF".b }, TARGETS],
      [Symple::InvalidMessage, { "type" => "message", "to" => "a", "data" => { 1.5 => 1 } }, TARGETS]
    ]
    good = { "type" => "message", "to" => "a" }
    bad.each do |klass, message, refused_on|
      TARGETS.each do |target|
        blocking = Symple::Emitter.new(redis: redis_url, target: target)
        unless refused_on.include?(target)
          expect_same_bytes(blocking, message)
          next
        end
        queued = Symple::Emitter.new(redis: redis_url, target: target, queued: true)
        expect(native_of(blocking).direct_packet(message)).to be_nil
        error = begin
          blocking.packet(message)
        rescue Symple::Error => e
          e
        end
        expect(error).to be_a(klass), "#{target} #{message.inspect}: #{error.inspect}"
        expect { blocking.emit_batch([good, message]) }.to raise_error(klass, error.message)
        expect { queued.emit(message) }.to raise_error(klass, error.message)
      end
    end
  end
end
