# frozen_string_literal: true

require "symple/rspec"

# Symple::Testing's fake mode and the RSpec matchers, as an application's suite uses them:
# nothing reaches Redis (a subscriber on every channel proves it), and bad input is refused
# exactly as for real.
RSpec.describe Symple::Testing do
  before(:all) { Support::Database.setup }

  around do |example|
    subscribed(patterns: ["*"]) do |sub|
      Symple::Testing.fake { example.run }
      # A fence published for real: anything the example had published came before it.
      Symple::Emitter.new(redis: redis_url, target: :native).to("fence").send(1)
      sub.wait_for(1)
      expect(sub.messages.map(&:channel)).to eq(["symple:broadcast"])
    end
  end

  before { Symple.configure { |c| c.target = :native } }

  it "records pushes from the shared emitter, without Redis" do
    Symple.emitter.to(42).send({ text: "hi" })
    Symple.emitter.to("lobby").send_event("deploy", { v: 3 })
    Symple.emitter.to("a|b").send_message({ sdp: "x" }, subtype: "call:offer")
    expect(Symple::Testing.pushes.map { |p| [p.method, p.rooms, p.message] }).to eq(
      [[:send_message, [42], { "type" => "message", "data" => { "text" => "hi" } }],
       [:send_event, ["lobby"], { "type" => "event", "name" => "deploy", "data" => { "v" => 3 } }],
       [:send_message, ["a|b"], { "type" => "message", "subtype" => "call:offer", "data" => { "sdp" => "x" } }]]
    )
    expect(Symple::Testing.pushes.map(&:target).uniq).to eq([:native])
  end

  it "refuses what the real emitter refuses, and records nothing then" do
    expect { Symple.emitter.send({ text: "to nobody" }) }.to raise_error(Symple::MissingRecipient)
    expect { Symple.emitter.to("").send(1) }.to raise_error(Symple::InvalidMessage, /empty/)
    expect { Symple.emitter.to("x").send(Float::NAN) }.to raise_error(Symple::InvalidMessage, /NaN/i)
    Symple.configure { |c| c.target = :socketio }
    expect { Symple.emitter.emit_event("connect") }.to raise_error(Symple::ReservedEvent)
    expect(Symple::Testing.pushes).to be_empty
  end

  it "matches pushes made by a block: rooms, fields, counts, and their absence" do
    alice = User.create!(username: "alice")
    bob = User.create!(username: "bob")
    post = nil
    expect { post = Post.create!(title: "t", user: alice) }
      .to have_broadcasted_symple.to(alice.id).with(subtype: "post:create", action: "create")
    expect { post.update!(title: "u") }.not_to have_broadcasted_symple.to(bob.id)
    expect { post.update!(title: "v") }
      .to have_broadcasted_symple.with(data: { "model" => "Post", "id" => post.id }).once
    expect { 2.times { |i| post.update!(title: "w#{i}") } }.to have_broadcasted_symple.to(alice.id).exactly(2).times
    # An Integer room is not its String.
    expect { post.update!(title: "x") }.not_to have_broadcasted_symple.to(alice.id.to_s)
    expect { post.update!(title: "y") }.to have_broadcasted_symple.with(data: a_hash_including("id" => post.id))
  end

  it "explains a failed match with what was pushed" do
    expect do
      expect { Symple.emitter.to("lobby").send(1) }.to have_broadcasted_symple.to("elsewhere")
    end.to raise_error(RSpec::Expectations::ExpectationNotMetError, /a push to \["elsewhere"\].*send_message to \["lobby"\]/m)
  end

  it "keeps sessions in memory, checked like the real store" do
    session = Symple.session
    session.set("tok", { user: "alice", rooms: ["a"] }, ttl: 60)
    expect(session.get("tok")).to eq("user" => "alice", "rooms" => ["a"])
    expect(session.ttl("tok")).to be_between(59, 60)
    expect(session.touch("tok", ttl: 120)).to be(true)
    expect(session.update("tok", { name: "Alice" })).to be(true)
    expect("tok").to have_symple_session.with("name" => "Alice", "user" => "alice")
    expect(session.list("alice").map(&:token)).to eq(["tok"])
    token = session.create({ user: "alice" })
    expect(session.delete_user("alice")).to eq(2)
    expect(token).not_to have_symple_session
    expect(session.touch("tok", ttl: 5)).to be(false) # never created by a touch
    expect { session.set("tok", { name: "no user" }) }.to raise_error(Symple::InvalidSession, /user/)
    expect { session.set("bad token", { user: "a" }) }.to raise_error(Symple::InvalidSession)
    expect { session.set("t", { user: "a" }, ttl: 0) }.to raise_error(Symple::InvalidSession)
    expect(Symple::Testing.sessions).to eq({})
  end

  it "runs the model hooks against the fakes" do
    user = User.create!(username: "carol", display_name: "Carol", teams: "t1")
    t = ApiToken.create!(token: "tok-fake", user: user)
    expect("tok-fake").to have_symple_session.with("user" => "carol", "rooms" => ["t1"])
    expect { t.destroy! }.not_to have_broadcasted_symple
    expect("tok-fake").not_to have_symple_session
  end

  it "is off outside fake mode, and the matchers say so" do
    Symple::Testing.disable!
    expect(Symple.emitter).not_to be_a(Symple::Testing::FakeEmitter)
    expect { expect { 1 }.to have_broadcasted_symple }.to raise_error(/Symple::Testing.fake!/)
  ensure
    Symple::Testing.fake!
  end
end
