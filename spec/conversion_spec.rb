# frozen_string_literal: true

# Ruby values become JSON values in Rust, directly; these specs read the bytes of the packet
# the emitter would publish.
RSpec.describe "Ruby to JSON conversion" do
  let(:emitter) { native_emitter.to("r") }

  def data_of(value)
    JSON.parse(emitter.packet({ type: "message", data: value })[1])["data"]
  end

  it "converts the JSON types and keeps integers integers" do
    value = { "s" => "text", "i" => 42, "neg" => -7, "f" => 2.5, "t" => true, "f2" => false, "n" => nil,
              "a" => [1, "two", [3]], "h" => { "nested" => { "deep" => 1 } } }
    expect(data_of(value)).to eq(value)
    expect(emitter.packet({ type: "message", data: { "i" => 42 } })[1]).to include('"i":42')
  end

  it "writes symbols as strings, symbol and integer keys as strings" do
    expect(data_of({ a: :b, 1 => [:c] })).to eq("a" => "b", "1" => ["c"])
  end

  it "keeps big integers within 64 bits exactly" do
    expect(data_of([2**63 - 1, -(2**63), 2**64 - 1])).to eq([2**63 - 1, -(2**63), 2**64 - 1])
  end

  it "reads binary strings holding UTF-8 and transcodes other encodings" do
    expect(data_of("héllo".b)).to eq("héllo")
    expect(data_of("caf\xE9".dup.force_encoding("ISO-8859-1"))).to eq("café")
  end

  it "uses as_json, then to_h, for application objects" do
    with_as_json = Class.new { def as_json(*) = { "kind" => "json", "at" => 1 } }
    with_to_h = Struct.new(:x, :y)
    expect(data_of([with_as_json.new, with_to_h.new(1, 2)])).to eq([{ "kind" => "json", "at" => 1 }, { "x" => 1, "y" => 2 }])
  end

  it "uses ActiveSupport's as_json for Time and friends when ActiveSupport is loaded" do
    require "active_support"
    require "active_support/core_ext/object/json"
    t = Time.utc(2024, 5, 6, 7, 8, 9)
    expect(data_of({ at: t })).to eq("at" => t.as_json)
  end

  it "keeps the order of keys" do
    expect(emitter.packet({ type: "message", data: { z: 1, a: 2, m: 3 } })[1]).to include('"data":{"z":1,"a":2,"m":3}')
  end
end
