# frozen_string_literal: true

require "active_record"
require "tmpdir"
require "symple/rspec"

# The README's Rails models, run as written, end to end with integer user ids: a login row
# writes a session whose `user` is the integer id; a browser-like WebSocket client
# authenticates with that token on `symple server`; a Post committed for that user reaches it,
# and not another user's client; logging out (destroying the row) disconnects it.
RSpec.describe "README: the Rails models" do
  def self.models
    @models ||= File.read(File.expand_path("../README.md", __dir__))[/<!-- readme-spec: rails-models.*?-->\n```ruby\n(.*?)```/m, 1]
  end

  # The README's classes in a namespace of their own, on their own sqlite3 database.
  module ReadmeApp
    class ApplicationRecord < ActiveRecord::Base
      self.abstract_class = true
    end

    class User < ApplicationRecord
      has_many :api_tokens
    end
  end

  before(:all) do
    raise "README has no block marked readme-spec: rails-models" unless self.class.models

    @dir = Dir.mktmpdir("symple-readme")
    ReadmeApp::ApplicationRecord.establish_connection(adapter: "sqlite3", database: File.join(@dir, "app.sqlite3"))
    conn = ReadmeApp::ApplicationRecord.connection
    conn.create_table(:users) { |t| t.string :name }
    conn.create_table(:api_tokens) do |t|
      t.string :token
      t.integer :user_id
      t.timestamps
    end
    conn.create_table(:posts) do |t|
      t.string :title
      t.integer :user_id
      t.timestamps
    end
    ReadmeApp.module_eval(self.class.models, "README.md")
  end

  after(:all) { FileUtils.rm_rf(@dir) }

  before { Symple.configure { |c| c.target = :native } }

  it "is the example app's models, word for word" do
    code = ->(text) { text.lines.map { |l| l.sub(/#.*/, "").strip }.reject(&:empty?) }
    app = %w[api_token post].flat_map do |f|
      code.call(File.read(File.expand_path("../examples/rails/app/models/#{f}.rb", __dir__)))
    end
    expect(code.call(self.class.models)).to eq(app)
  end

  it "pushes a post to its author's browsers (integer user ids), and logging out disconnects them" do
    server = Support::SympleServer.new("--authentication", "--redis-url", redis_url)
    alice = ReadmeApp::User.create!(name: "alice")
    bob = ReadmeApp::User.create!(name: "bob")
    login = alice.api_tokens.create!
    other = bob.api_tokens.create!
    expect(JSON.parse(admin.get("symple:session:#{login.token}")))
      .to eq("user" => alice.id, "name" => "alice", "rooms" => ["lobby"])

    a = Support::WebSocket.new(server.url)
    a.send_json(type: "auth", token: login.token)
    welcome = a.expect { |f| f["type"] == "welcome" }
    expect(welcome["peer"]).to include("name" => "alice")
    expect(welcome["peer"]["user"].to_s).to eq(alice.id.to_s)
    b = Support::WebSocket.new(server.url)
    b.send_json(type: "auth", token: other.token)
    b.expect { |f| f["type"] == "welcome" }

    post = ReadmeApp::Post.create!(user: alice, title: "Hello")
    got = a.expect { |f| f["type"] == "message" }
    expect(got).to include("subtype" => "post:create", "action" => "create", "data" => { "id" => post.id, "title" => "Hello" })
    # A fence: bob's own post reaches bob; alice's, published first, would have too.
    ReadmeApp::Post.create!(user: bob, title: "fence")
    expect(b.expect { |f| f["type"] == "message" }["data"]["title"]).to eq("fence")
    expect(b.drain.select { |f| f["type"] == "message" }).to eq([])

    login.destroy! # logout
    expect(admin.exists?("symple:session:#{login.token}")).to be(false)
    expect(a.expect { false }).to be_nil # the server closed alice's socket
    expect(a.close_code).to eq(4401)
  ensure
    [a, b].compact.each(&:close)
    server&.stop
  end

  it "has a test-mode example that passes as written with the models above" do
    block = File.read(File.expand_path("../README.md", __dir__))[/<!-- readme-spec: testing.*?-->\n```ruby\n(.*?)```/m, 1]
    raise "README has no block marked readme-spec: testing" unless block

    # Compiled in the app's namespace (so User and Post are the README's models) and run as
    # this example, where RSpec's expect and symple's matchers are.
    example = ReadmeApp.module_eval("proc do\n#{block}\nend", "README.md")
    Symple::Testing.fake do
      Symple::Testing.clear!
      instance_exec(&example)
    end
    expect(admin.keys("symple:*")).to eq([]) # nothing reached Redis
  end
end
