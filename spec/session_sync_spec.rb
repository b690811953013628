# frozen_string_literal: true

RSpec.describe Symple::SessionSync do
  before(:all) { Support::Database.setup }

  let(:user) { User.create!(username: "alice", display_name: "Alice", teams: "team-a,design") }

  def session(token)
    raw = admin.get("symple:session:#{token}")
    raw && JSON.parse(raw)
  end

  it "creates the Redis session when the token row commits" do
    t = ApiToken.create!(token: "tok-1", user: user)
    expect(session(t.token)).to eq("user" => "alice", "name" => "Alice", "rooms" => %w[team-a design])
    expect(admin.ttl("symple:session:tok-1")).to be_between(3590, 3600)
  end

  it "creates nothing when the transaction rolls back" do
    ActiveRecord::Base.transaction do
      ApiToken.create!(token: "tok-rb", user: user)
      expect(session("tok-rb")).to be_nil # not before the commit either
      raise ActiveRecord::Rollback
    end
    expect(session("tok-rb")).to be_nil
  end

  it "deletes the session when the row is destroyed" do
    t = ApiToken.create!(token: "tok-2", user: user)
    expect(session("tok-2")).not_to be_nil
    t.destroy!
    expect(session("tok-2")).to be_nil
  end

  it "extends the TTL when the row is touched" do
    t = ApiToken.create!(token: "tok-3", user: user)
    admin.expire("symple:session:tok-3", 5)
    t.touch
    expect(admin.ttl("symple:session:tok-3")).to be > 3000
  end

  it "rewrites the fields when the row changes, keeping the TTL, and follows a new token" do
    t = ApiToken.create!(token: "tok-4", user: user)
    admin.expire("symple:session:tok-4", 1000)
    other = User.create!(username: "bob", teams: "")
    t.update!(user: other)
    expect(session("tok-4")).to eq("user" => "bob", "rooms" => []) # Alice's name is gone
    expect(admin.ttl("symple:session:tok-4")).to be_between(990, 1000)
    t.update!(token: "tok-5")
    expect(session("tok-4")).to be_nil
    expect(session("tok-5")).to include("user" => "bob")
  end

  it "does not bring back a session that is gone when the row changes" do
    t = ApiToken.create!(token: "tok-6", user: user)
    admin.del("symple:session:tok-6")
    t.update!(user: User.create!(username: "carol"))
    expect(session("tok-6")).to be_nil
  end
end
