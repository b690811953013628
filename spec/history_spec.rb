# frozen_string_literal: true

# The :native_history target against `symple server --history`: a browser-like client is away
# while the backend pushes to its room through the gem (one emit at a time, a batch, a queued
# emitter); it reconnects with its last offset and receives exactly those messages, in order,
# each with its offset, then a `recovery` frame; a client outside the room gets none of them.
RSpec.describe "the native_history target" do
  def auth(server, **fields)
    ws = Support::WebSocket.new(server.url)
    ws.send_json(type: "auth", **fields)
    ws
  end

  %i[plain cluster].each do |kind|
    context "on the #{kind} Redis", redis_kind: kind do
      it "makes backend pushes recoverable after a reconnect" do
        server = Support::SympleServer.new("--history", "R", "--history-size", "500", "--redis-url", redis_url)
        outsider = auth(server, user: "o", rooms: ["S"])
        outsider.expect { |f| f["type"] == "welcome" }
        x = auth(server, user: "x", rooms: ["R"], recover: { R: nil })
        start = x.expect { |f| f["type"] == "recovery" }.dig("rooms", "R", "offset")
        expect(start).to match(/\A\d+-\d+\z/)
        x.close

        settings = { redis: redis_url, target: :native_history, history_size: 500, history_age: 600 }
        room = Symple::Emitter.new(**settings).to("R")
        (1..5).each { |n| room.send({ n: n }) }
        room.emit_batch((6..10).map { |n| { type: "message", data: { n: n } } })
        queued = Symple::Emitter.new(**settings, queued: true).to("R")
        (11..15).each { |n| queued.send({ n: n }) }
        queued.flush

        x = auth(server, user: "x", rooms: ["R"], recover: { R: start })
        frames = []
        frames << x.next_json until frames.last&.fetch("type") == "recovery"
        recovery = frames.pop
        messages = frames.select { |f| f["type"] == "message" }
        expect(messages.map { |m| m.dig("data", "n") }).to eq((1..15).to_a)
        offsets = messages.map { |m| m.dig("history", "offset") }
        expect(offsets.map { |o| o.split("-").map(&:to_i) }).to eq(offsets.map { |o| o.split("-").map(&:to_i) }.sort)
        expect(offsets.uniq.size).to eq(15)
        expect(recovery.dig("rooms", "R")).to include("recovered" => true, "replayed" => 15, "offset" => offsets.last)
        # Nothing more (no message twice), and nothing reached the client outside the room.
        expect(x.drain.select { |f| f["type"] == "message" }).to eq([])
        expect(outsider.drain.select { |f| f["type"] == "message" }).to eq([])
      ensure
        [x, outsider].compact.each(&:close)
        server&.stop
      end
    end
  end

  it "refuses history settings that cannot work" do
    expect { Symple::Emitter.offline(target: :native_history, history_age: 0) }
      .to raise_error(Symple::ConfigurationError, /history_age must be a positive number of seconds/)
    expect { Symple::Emitter.offline(target: :native_history, history_size: 0) }
      .to raise_error(Symple::ConfigurationError, /history size and age must be positive/)
    expect(Symple::Emitter.offline(target: "native-history").target).to eq(:native_history)
  end
end
