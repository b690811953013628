# frozen_string_literal: true

require "active_job"

# ActiveJob paths, with ActiveJob's test adapter and a real Redis: `later: true`, the retry
# of a failed push or session write (`callback_errors = :retry`), and Session.sync.
RSpec.describe "ActiveJob" do
  before(:all) do
    Support::Database.setup
    ActiveJob::Base.logger = Logger.new(nil)
    # Declared here: only this spec needs a model with later: true.
    Object.const_set(:LaterPost, Class.new(ActiveRecord::Base) do
      self.table_name = "posts"
      def self.name = "LaterPost"
      include Symple::Broadcasts
      symple_broadcast to: :user_id, later: true, data: ->(p) { { title: p.title, at: p.created_at } }
    end)
  end

  let(:adapter) { ActiveJob::QueueAdapters::TestAdapter.new }
  let(:down) { "redis://127.0.0.1:#{Support::RedisServer.free_port}" }

  before do
    ActiveJob::Base.queue_adapter = adapter
    Symple.configure { |c| c.target = :native }
  end

  def enqueued(klass)
    adapter.enqueued_jobs.select { |j| j[:job] == klass }
  end

  def perform_all
    jobs = adapter.enqueued_jobs.dup
    adapter.enqueued_jobs.clear
    # The test adapter keeps each job's serialized form beside its summary.
    jobs.each { |j| ActiveJob::Base.execute(j) }
  end

  it "later: true enqueues the message built at commit time; the job publishes it" do
    post = nil
    subscribed(channels: ["symple:broadcast"]) do |sub|
      post = LaterPost.create!(title: "queued", user_id: 7)
      expect(sub.count).to eq(0) # nothing published from the callback itself
      jobs = enqueued(Symple::PushJob)
      expect(jobs.size).to eq(1)
      rooms, message = ActiveJob::Arguments.deserialize(jobs.first[:args])
      expect(rooms).to eq([7])
      expect(message).to include("subtype" => "later_post:create", "action" => "create",
                                 "data" => { "title" => "queued", "at" => post.created_at.as_json })
      expect(jobs.first[:queue]).to eq("default")

      perform_all
      m = sub.wait_for(1).first.json
      expect(m).to include("to" => [7], "subtype" => "later_post:create", "data" => message["data"])
    end
    # A destroyed row is still named: the message was built before the job ran.
    post.destroy!
    _, message = ActiveJob::Arguments.deserialize(enqueued(Symple::PushJob).last[:args])
    expect(message).to include("action" => "destroy", "data" => include("title" => "queued"))
  end

  it "declaring later: with emitter: is refused" do
    expect do
      Class.new(ActiveRecord::Base) do
        self.table_name = "posts"
        include Symple::Broadcasts
        symple_broadcast to: "x", later: true, emitter: Symple::Emitter.offline
      end
    end.to raise_error(ArgumentError, /later: true/)
  end

  it "callback_errors = :retry enqueues a failed push; the job delivers it once Redis is back" do
    io = StringIO.new
    Symple.configure do |c|
      c.redis = down
      c.callback_errors = :retry
      c.logger = Logger.new(io)
    end
    post = Post.create!(title: "while down", user_id: 3)
    expect(io.string).to include("broadcast on create for Post##{post.id} failed", "retrying through a job")
    expect(enqueued(Symple::PushJob).size).to eq(1)
    Symple.configure { |c| c.redis = redis_url }
    subscribed(channels: ["symple:broadcast"]) do |sub|
      perform_all
      expect(sub.wait_for(1).first.json).to include("to" => [3], "data" => { "model" => "Post", "id" => post.id })
    end
  end

  it "retries a failed session write through SessionSyncJob, from the row as it is then" do
    user = User.create!(username: "dora", display_name: "Dora", teams: "a")
    Symple.configure do |c|
      c.redis = down
      c.callback_errors = :retry
      c.logger = Logger.new(nil)
    end
    token = ApiToken.create!(token: "tok-retry", user: user)
    expect(enqueued(Symple::SessionSyncJob).size).to eq(1)
    user.update!(display_name: "Dora M.") # the job writes what the row says when it runs
    Symple.configure { |c| c.redis = redis_url }
    perform_all
    expect(JSON.parse(admin.get("symple:session:tok-retry"))).to include("user" => "dora", "name" => "Dora M.")
    expect(admin.ttl("symple:session:tok-retry")).to be > 3000

    # A logout that failed: the job deletes the session of the row that is gone.
    Symple.configure { |c| c.redis = down }
    token.destroy!
    expect(enqueued(Symple::SessionSyncJob).size).to eq(1)
    Symple.configure { |c| c.redis = redis_url }
    perform_all
    expect(admin.exists?("symple:session:tok-retry")).to be(false)
  end

  it "Symple::Session.sync rewrites one row's session (and deletes a destroyed row's)" do
    user = User.create!(username: "eve", teams: "x")
    token = ApiToken.create!(token: "tok-sync", user: user)
    admin.del("symple:session:tok-sync") # lost, say, in a Redis failover
    expect(Symple::Session.sync(token)).to be(true)
    expect(JSON.parse(admin.get("symple:session:tok-sync"))).to eq("user" => "eve", "rooms" => ["x"])
    token.destroy!
    admin.set("symple:session:tok-sync", '{"user":"eve"}')
    Symple::Session.sync(token)
    expect(admin.exists?("symple:session:tok-sync")).to be(false)
    expect { Symple::Session.sync(user) }.to raise_error(ArgumentError, /User has no symple_session/)
  end
end
