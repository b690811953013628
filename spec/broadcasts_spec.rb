# frozen_string_literal: true

RSpec.describe Symple::Broadcasts do
  before(:all) { Support::Database.setup }
  before { Symple.configure { |c| c.target = :native } }

  def pushes
    subscribed(channels: ["symple:broadcast"]) do |sub|
      yield
      # A fence: anything the block pushed was published before it.
      Symple.emitter.to("fence").send("fence")
      sub.wait_for(1)
      wait_until("the fence") { sub.messages.any? { |m| m.json["to"] == "fence" } }
      sub.messages.map(&:json).reject { |m| m["to"] == "fence" }
    end
  end

  it "a committed create pushes exactly once, after the commit, naming the model and id only" do
    user = User.create!(username: "alice")
    post = nil
    msgs = pushes { post = Post.create!(title: "hello", user_id: user.id) }
    expect(msgs.size).to eq(1)
    m = msgs.first
    expect(m).to include("type" => "message", "subtype" => "post:create", "action" => "create", "to" => [user.id])
    # No columns unless asked for with data: (the title never leaves the server).
    expect(m["data"]).to eq("model" => "Post", "id" => post.id)
  end

  it "a create in a rolled-back transaction pushes nothing" do
    msgs = pushes do
      ActiveRecord::Base.transaction do
        Post.create!(title: "never")
        raise ActiveRecord::Rollback
      end
    end
    expect(msgs).to eq([])
    expect(Post.where(title: "never")).to be_empty
  end

  it "pushes nothing until the outer transaction commits, then once per record" do
    msgs = pushes do
      before = calls("publish")
      ActiveRecord::Base.transaction do
        Post.create!(title: "one")
        Post.create!(title: "two")
        expect(calls("publish")).to eq(before) # still inside the transaction
      end
    end
    expect(msgs.map { |m| m["data"]["id"] }).to contain_exactly(*Post.where(title: %w[one two]).ids)
  end

  it "pushes on update and destroy, with the action in the subtype and in `action`" do
    post = Post.create!(title: "a")
    msgs = pushes do
      post.update!(title: "b")
      post.destroy!
    end
    expect(msgs.map { |m| [m["subtype"], m["action"], m["data"]["id"], m["to"]] })
      .to eq([["post:update", "update", post.id, "lobby"], ["post:destroy", "destroy", post.id, "lobby"]])
  end

  it "honours on:, to:, subtype:, data: and if:, and says the action whatever the subtype" do
    msgs = pushes do
      Announcement.create!(title: "draft")
      a = Announcement.create!(title: "big news")
      a.update!(title: "bigger news")
    end
    expect(msgs).to match([include("to" => "announcements", "subtype" => "news", "action" => "create",
                                   "data" => { "title" => "big news" })])
  end

  it "refuses an unknown action" do
    expect { Class.new(ActiveRecord::Base) { self.table_name = "posts"; include Symple::Broadcasts; symple_broadcast on: :save, to: "x" } }
      .to raise_error(ArgumentError, /on: \[:save\] is not one of/)
  end

  it "raises a programmer's error at the caller of save when strict, logs it otherwise" do
    klass = Class.new(ActiveRecord::Base) do
      self.table_name = "posts"
      def self.name = "Orphan"
      include Symple::Broadcasts
      symple_broadcast on: :create, to: [] # no recipient: refused on the native target
    end
    Symple.configure { |c| c.strict = true }
    expect { klass.create!(title: "x") }.to raise_error(Symple::MissingRecipient)
    io = StringIO.new
    Symple.configure do |c|
      c.strict = false
      c.logger = Logger.new(io)
    end
    klass.create!(title: "y")
    expect(io.string).to match(/broadcast on create for Orphan#\d+ failed: Symple::MissingRecipient/)
  end

  it "logs and instruments a failed push after the commit; the record stays saved" do
    io = StringIO.new
    Symple.configure do |c|
      c.logger = Logger.new(io)
      c.redis = "redis://127.0.0.1:#{Support::RedisServer.free_port}"
    end
    seen = []
    sub = ActiveSupport::Notifications.subscribe("error.symple") { |*a| seen << a.last }
    post = Post.create!(title: "saved anyway")
    expect(Post.find(post.id).title).to eq("saved anyway")
    expect(io.string).to match(/symple: broadcast on create for Post##{post.id} failed: Symple::ConnectionError/)
    expect(seen.first).to include(record: post, operation: "broadcast on create")
  ensure
    ActiveSupport::Notifications.unsubscribe(sub) if sub
  end

  it "raises instead when callback_errors is :raise" do
    Symple.configure do |c|
      c.callback_errors = :raise
      c.redis = "redis://127.0.0.1:#{Support::RedisServer.free_port}"
    end
    expect { Post.create!(title: "x") }.to raise_error(Symple::ConnectionError)
  end
end
