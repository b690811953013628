# frozen_string_literal: true

require "json"
require "securerandom"

module Symple
  # A fake mode for an application's tests, like Sidekiq's: `Symple.emitter` and
  # `Symple.session` (and so the model hooks) record pushes and keep sessions in memory, no
  # Redis needed. Everything is still checked as for real (a push without a recipient on the
  # native target, a session without a `user`... raise the same errors).
  #
  #   # spec/rails_helper.rb
  #   require "symple/rspec"        # the matchers; clears the recordings before each example
  #   Symple::Testing.fake!
  #
  #   expect { Post.create!(user: alice, title: "hi") }
  #     .to have_broadcasted_symple.to(alice.id).with(subtype: "post:create")
  #   expect(token.token).to have_symple_session.with("user" => alice.id)
  #
  #   Symple::Testing.pushes     # => [#<Push rooms=[42] message={"type"=>"message", ...}>]
  #   Symple::Testing.sessions   # => {"tok" => {"user" => 42, ...}}
  #   Symple::Testing.disable!   # real Redis again; `Symple::Testing.fake { ... }` for a block
  #
  # Emitters made with Symple::Emitter.new and models given `emitter:`/`session:` explicitly
  # keep using Redis.
  module Testing
    # One recorded publish: `method` (:emit, :send_message, ..., :sockets_join), the
    # emitter's rooms and except list as given, the target, and the message as clients would
    # read it (JSON values, String keys; without the `id` and `from` the emitter fills in).
    Push = Struct.new(:method, :rooms, :target, :message, keyword_init: true)

    LOCK = Mutex.new
    private_constant :LOCK
    @pushes = []
    @sessions = {}

    class << self
      def fake!
        Symple.test_backend = Backend
        self
      end

      def disable!
        Symple.test_backend = nil
        self
      end

      def fake?
        Symple.instance_variable_get(:@test_backend).equal?(Backend)
      end

      # Fake mode for the block only.
      def fake
        was = fake?
        fake!
        yield
      ensure
        was ? fake! : disable!
      end

      # What was pushed since the last clear!, oldest first.
      def pushes
        LOCK.synchronize { @pushes.dup }
      end

      # Live sessions by token: the data as stored (String keys).
      def sessions
        LOCK.synchronize do
          now = Time.now
          @sessions.reject! { |_, s| s[:expires_at] && s[:expires_at] <= now }
          @sessions.transform_values { |s| s[:data] }
        end
      end

      def clear!
        LOCK.synchronize do
          @pushes.clear
          @sessions.clear
        end
      end

      def record(push)
        LOCK.synchronize { @pushes << push }
      end

      # Runs the block on the session table, under the lock.
      def session_table
        LOCK.synchronize { yield @sessions }
      end

      # A value as JSON would carry it: String keys, Symbols as Strings.
      def json(value)
        value = value.as_json if value.respond_to?(:as_json)
        JSON.parse(JSON.generate(value), quirks_mode: true)
      end
    end

    # What Symple.emitter and Symple.session return in fake mode.
    module Backend
      def self.emitter
        FakeEmitter.offline
      end

      def self.session
        FakeSession.allocate
      end
    end

    # A Symple::Emitter that checks and encodes every publish (nothing reaches Redis) and
    # records it in Symple::Testing.pushes.
    class FakeEmitter < Emitter
      def emit(message = nil, fields = nil)
        message = merge(message, fields) if nil.equal?(message) || fields
        super(message).tap { note(:emit, message) }
      end

      def send_message(data = nil, subtype: nil, **fields)
        data = fields if nil.equal?(data) && !fields.empty?
        super(data, subtype: subtype).tap do
          note(:send_message, { "type" => "message", "subtype" => subtype&.to_s, "data" => data }.compact)
        end
      end

      def send_presence(peer = nil, **fields)
        peer = merge(peer, fields)
        super(peer).tap do
          data = Testing.json(peer).reject { |k, _| k == "token" }
          note(:send_presence, { "type" => "presence", "data" => { "online" => true }.merge(data) })
        end
      end

      def send_event(name, data = nil, **fields)
        data = fields if nil.equal?(data) && !fields.empty?
        super(name, data).tap { note(:send_event, { "type" => "event", "name" => name.to_s, "data" => data }) }
      end

      def send_command(node, action = :execute, data = nil)
        super.tap do
          note(:send_command, { "type" => "command", "node" => node.to_s, "action" => action.to_s, "data" => data })
        end
      end

      def emit_raw(message)
        super.tap { note(:emit_raw, message) }
      end

      def emit_event(event, *args)
        super.tap { note(:emit_event, { "event" => event.to_s, "args" => args }) }
      end

      def emit_batch(messages)
        messages = messages.to_a
        super(messages).tap { messages.each { |m| note(:emit_batch, m) } }
      end

      def sockets_join(*rooms)
        super.tap { note(:sockets_join, { "rooms" => rooms.flatten }) }
      end

      def sockets_leave(*rooms)
        super.tap { note(:sockets_leave, { "rooms" => rooms.flatten }) }
      end

      def disconnect_sockets(close = false)
        super.tap { note(:disconnect_sockets, { "close" => close ? true : false }) }
      end

      private

      def note(method, message)
        Testing.record(Push.new(method: method, rooms: rooms, target: target, message: Testing.json(message)))
      end

      def session
        Symple.session
      end
    end

    # A Symple::Session kept in memory (Symple::Testing.sessions), checked like the real one.
    class FakeSession < Session
      def set(token, data, ttl: nil)
        write(token, data, ttl)
        true
      end

      def get(token)
        entry(token)&.fetch(:data)
      end

      def touch(token, ttl:)
        seconds = seconds(ttl)
        raise InvalidSession, "touch needs a ttl: (seconds)" if seconds.nil?

        check(token, nil, seconds)
        Testing.session_table do |t|
          live?(t, token) && (t[token][:expires_at] = Time.now + seconds) && true
        end
      end

      def exists?(token)
        !entry(token).nil?
      end

      def delete(token)
        check(token, nil, nil)
        Testing.session_table { |t| live?(t, token) ? !t.delete(token).nil? : false }
      end

      def create(data, ttl: nil, token: nil)
        token ||= SecureRandom.uuid
        taken = Testing.session_table { |t| live?(t, token.to_s) }
        raise InvalidSession, "token #{token} is already in use" if taken

        write(token, data, ttl)
        token
      end

      def update(token, fields)
        check(token, nil, nil)
        Testing.session_table do |t|
          next false unless live?(t, token)

          t[token][:data] = check(token, t[token][:data].merge(Testing.json(fields)), nil)
          true
        end
      end

      def ttl(token)
        e = entry(token)
        return nil if e.nil?
        return Float::INFINITY if e[:expires_at].nil?

        (e[:expires_at] - Time.now).ceil
      end

      def list(user)
        Testing.session_table do |t|
          t.keys.select { |k| live?(t, k) && t[k][:data]["user"] == user }
           .map { |k| Info.new(token: k, expires_at: t[k][:expires_at]) }
        end
      end

      def delete_user(user)
        list(user).count { |info| delete(info.token) }
      end

      def cleanup
        0
      end

      def inspect
        "#<#{self.class.name}>"
      end

      private

      def check(token, data, ttl)
        Native::SessionStore.check(token.nil? ? nil : token!(token), data, ttl)
      end

      def write(token, data, ttl)
        seconds = seconds(ttl)
        stored = check(token, data, seconds)
        Testing.session_table do |t|
          t[token.to_s] = { data: stored, expires_at: seconds && Time.now + seconds }
        end
      end

      def entry(token)
        check(token, nil, nil)
        Testing.session_table { |t| live?(t, token) ? t[token] : nil }
      end

      def live?(table, token)
        e = table[token]
        return false if e.nil?
        return true if e[:expires_at].nil? || e[:expires_at] > Time.now

        table.delete(token)
        false
      end
    end
  end
end
