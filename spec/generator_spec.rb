# frozen_string_literal: true

require "open3"
require "rbconfig"
require "tmpdir"

# `rails g symple:install`, run by Rails' own generator machinery (Debian's railties) in a
# scratch directory; the initializer it writes then configures symple in a fresh Ruby.
RSpec.describe "rails g symple:install" do
  def ruby(script, chdir:)
    out, status = Open3.capture2e(RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-e", script, chdir: chdir)
    expect(status).to be_success, out
    out
  end

  it "writes config/initializers/symple.rb, which configures symple" do
    Dir.mktmpdir("symple-generator") do |dir|
      out = ruby(<<~RUBY, chdir: dir)
        require "rails"
        require "rails/generators"
        require "symple"
        Rails::Generators.invoke("symple:install", ["--target", "socketio"], destination_root: Dir.pwd)
      RUBY
      expect(out).to include("create  config/initializers/symple.rb", "Symple::Testing.fake!")
      written = File.read(File.join(dir, "config/initializers/symple.rb"))
      expect(written).to include('c.target = ENV.fetch("SYMPLE_TARGET", "socketio")', "c.callback_errors = :retry")

      checked = ruby(<<~RUBY, chdir: dir)
        require "symple"
        ENV["RAILS_MAX_THREADS"] = "12"
        load "config/initializers/symple.rb"
        c = Symple.config
        print [c.target, c.pool_size, c.callback_errors, c.from].inspect
      RUBY
      expect(checked).to eq('[:socketio, 12, :retry, "rails|app"]')
    end
  end

  it "refuses an unknown target" do
    Dir.mktmpdir("symple-generator") do |dir|
      out, = Open3.capture2e(RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-e", <<~RUBY, chdir: dir)
        require "rails"
        require "rails/generators"
        Rails::Generators.invoke("symple:install", ["--target", "mqtt"], destination_root: Dir.pwd)
      RUBY
      expect(out).to include("--target must be native or socketio")
      expect(File.exist?(File.join(dir, "config/initializers/symple.rb"))).to be(false)
    end
  end
end
