# frozen_string_literal: true

module Symple
  # Publishes Symple messages through Redis to the servers your clients are connected to.
  #
  #   emitter = Symple::Emitter.new(redis: $redis, from: "rails|web", rooms: ["team-a"])
  #   emitter.send({ text: "Hi!" })                                  # a `message` with data
  #   emitter.to(user.id).send_event("order:paid", { id: order.id })
  #   emitter.to("team-a").except("bob").send_message({ sdp: sdp }, subtype: "call:offer")
  #
  # Chaining (`to`, `except`, `from`, `of`, `volatile`, `compress`, `event`) returns a new
  # emitter and leaves this one as it was; all of them share one connection. An emitter is
  # safe to share between threads, releases the GVL while it waits on Redis, and reconnects
  # by itself in a forked child. Every method raises a Symple::Error subclass naming the
  # problem.
  class Emitter
    # Settings shared by an emitter and every emitter chained from it.
    Context = Struct.new(:url, :connect_timeout, :response_timeout, :pool_size, :session, :lock)
    private_constant :Context

    # All keyword arguments default to Symple.config. `rooms:` are the first recipients
    # (like `to`); `target:` is :socketio, :socketio_sharded, :socketio_streams, :native,
    # :native_rooms or :native_history, with the options of Configuration (`key:`,
    # `namespace:`, `subscription_mode:`, `stream:`, `maxlen:`, `stream_count:`,
    # `history_size:`, `history_age:`); `queued: true` makes emits return once queued
    # (see #flush); `pool_size:` is how many threads can wait on Redis at once (see
    # Configuration#pool_size).
    def initialize(redis: nil, from: nil, rooms: nil, target: nil, key: nil, namespace: nil,
                   subscription_mode: nil, stream: nil, maxlen: nil, stream_count: nil,
                   history_size: nil, history_age: nil, queued: nil, connect_timeout: nil, response_timeout: nil, pool_size: nil)
      c = Symple.config
      settings = c.target_options(target: target, key: key, namespace: namespace,
                                  subscription_mode: subscription_mode, stream: stream,
                                  maxlen: maxlen, stream_count: stream_count,
                                  history_size: history_size, history_age: history_age)
      ctx = Context.new(RedisURL.resolve(redis || c.redis),
                        Configuration.seconds(:connect_timeout, connect_timeout || c.connect_timeout),
                        Configuration.seconds(:response_timeout, response_timeout || c.response_timeout),
                        Configuration.pool_size(pool_size || c.pool_size), nil, Mutex.new)
      native = Native::Emitter.connect(ctx.url, settings, (from || c.from).to_s,
                                       (queued.nil? ? c.queued : queued) ? true : false,
                                       ctx.connect_timeout, ctx.response_timeout, ctx.pool_size)
      native = native.to(rooms) unless rooms.nil?
      setup(native, ctx)
    end

    # An emitter that checks and encodes everything as a connected one does and publishes
    # nothing, without Redis (what Symple::Testing's fake mode builds on). Keywords as `new`.
    def self.offline(from: nil, rooms: nil, target: nil, key: nil, namespace: nil,
                     subscription_mode: nil, stream: nil, maxlen: nil, stream_count: nil,
                     history_size: nil, history_age: nil)
      c = Symple.config
      settings = c.target_options(target: target, key: key, namespace: namespace,
                                  subscription_mode: subscription_mode, stream: stream,
                                  maxlen: maxlen, stream_count: stream_count,
                                  history_size: history_size, history_age: history_age)
      native = Native::Emitter.offline(settings, (from || c.from).to_s)
      native = native.to(rooms) unless rooms.nil?
      allocate.__send__(:setup, native, Context.new(nil, c.connect_timeout, c.response_timeout, c.pool_size, nil,
                                                    Mutex.new))
    end

    # :native, :socketio, :socketio_sharded or :socketio_streams
    def target
      @target ||= @native.target.first.tr("-", "_").to_sym
    end

    # The rooms this emitter sends to (Strings and Integers), as given to `to`.
    def rooms
      @native.rooms
    end

    # True when emits return once queued.
    def queued?
      @native.queued?
    end

    # --- chaining: each returns a new Emitter --------------------------------------------

    # Adds recipients: room names, user names, `user|id` addresses, Integer ids (an Integer
    # stays an Integer room: `to(user.id)` reaches the socket whose session `user` is that
    # Integer on Socket.IO), or Arrays of them.
    def to(*rooms)
      chain(@native.to(rooms))
    end
    alias_method :in, :to

    # Skips sockets in these rooms (Socket.IO targets).
    def except(*rooms)
      chain(@native.except(rooms))
    end

    # The `from` written into messages that have none (an address such as "rails|worker-1").
    def from(address)
      chain(@native.from(address.to_s))
    end

    # The same servers, another Socket.IO namespace.
    def of(namespace)
      chain(@native.of(namespace.to_s))
    end

    # Socket.IO volatile flag: dropped for clients that are not ready.
    def volatile
      chain(@native.volatile)
    end

    # Socket.IO compress flag.
    def compress(flag = true)
      chain(@native.compress(flag ? true : false))
    end

    # The Socket.IO event that carries messages (default "message").
    def event(name)
      chain(@native.event(name.to_s))
    end

    # --- publishing: each returns true, or raises -------------------------------------------

    # Publishes a Symple message (a Hash; `id` and `from` are filled in when absent).
    # `emit({ type: "message", data: 1 })` and `emit(type: "message", data: 1)` are the same.
    #
    # No `**fields` parameter, on purpose: keywords given to a method without one arrive as a
    # positional Hash (`fields`, or `message` when alone), and a `**` parameter would cost a
    # Hash allocation on every call of this hot path.
    def emit(message = nil, fields = nil)
      message = merge(message, fields) if nil.equal?(message) || fields
      return publish(:emit, message: message) { @native.emit(message) } if Instrumentation.listening?(:emit)

      @native.emit(message)
      true
    end

    # `send(data)` sends `data` as a `message`, as the Symple Ruby client documents. A Symbol
    # naming one of this object's methods still dispatches like Object#send, so code that
    # calls `obj.send(:method, ...)` keeps working; `__send__` and `public_send` are untouched.
    def send(*args, **fields, &block)
      if Symbol === args.first && respond_to?(args.first, true) # === : data may be a BasicObject
        return __send__(*args, **fields, &block)
      end
      raise ArgumentError, "send takes one data argument, got #{args.size}" if args.size > 1

      send_message(args.first, **fields)
    end

    # Sends a `message` carrying `data`; `subtype:` specialises it ("chat", "call:offer").
    def send_message(data = nil, subtype: nil, **fields)
      data = fields if nil.equal?(data) && !fields.empty?
      if subtype.nil?
        publish(:send_message) { @native.send_data(data) }
      else
        message = { "type" => "message", "subtype" => subtype.to_s, "data" => data }
        publish(:send_message) { @native.emit(message) }
      end
    end

    # Sends a presence of a peer: `send_presence(user: "alice", name: "Alice", online: true)`.
    # `user` is required; a `token` is never sent.
    def send_presence(peer = nil, **fields)
      peer = merge(peer, fields)
      publish(:send_presence) { @native.send_presence(peer) }
    end

    # Sends an `event` named `name`, stamped with the current time.
    def send_event(name, data = nil, **fields)
      data = fields if nil.equal?(data) && !fields.empty?
      publish(:send_event) { @native.send_event(name.to_s, data) }
    end

    # Sends a `command` on `node` ("media:video"); action is :execute, :get, :set, :result
    # or :error.
    def send_command(node, action = :execute, data = nil)
      publish(:send_command) { @native.send_command(node.to_s, action.to_s, data) }
    end

    # Publishes a Hash exactly as given (nothing filled in).
    def emit_raw(message)
      publish(:emit_raw) { @native.emit_raw(message) }
    end

    # Emits any Socket.IO event with any arguments (Socket.IO targets).
    def emit_event(event, *args)
      publish(:emit_event) { @native.emit_event(event.to_s, args) }
    end

    # Publishes many messages in one pipelined round trip; nothing is sent when any of them
    # is invalid.
    def emit_batch(messages)
      messages = messages.to_a
      publish(:emit_batch, messages.size) { @native.emit_batch(messages) }
    end

    # Makes the targeted sockets join rooms (Socket.IO targets).
    def sockets_join(*rooms)
      publish(:sockets_join) { @native.sockets_join(rooms) }
    end

    # Makes the targeted sockets leave rooms (Socket.IO targets).
    def sockets_leave(*rooms)
      publish(:sockets_leave) { @native.sockets_leave(rooms) }
    end

    # Disconnects the targeted sockets; `close` also closes their connections.
    def disconnect_sockets(close = false)
      publish(:disconnect_sockets) { @native.disconnect_sockets(close ? true : false) }
    end

    # Waits until everything emitted so far is acknowledged by Redis and raises the first
    # failure since the last flush. Immediate unless queued. Queued emitters are also
    # flushed at exit and before fork.
    def flush
      Instrumentation.instrument(:flush, { target: target }) { @native.flush }
      true
    end

    # `[channel, payload, command]` of what `emit(message)` would send, without sending it:
    # the channel (or stream key), the payload bytes, and "PUBLISH", "SPUBLISH" or "XADD".
    def packet(message)
      @native.packet(message)
    end

    # --- sessions --------------------------------------------------------------------------

    # Writes the session under `token` (see Symple::Session#set) on this emitter's Redis.
    def create_session(token, data, ttl: nil)
      session.set(token, data, ttl: ttl)
    end

    # Deletes the session under `token`; true when it existed.
    def destroy_session(token)
      session.delete(token)
    end

    def inspect
      "#<#{self.class.name} target=#{target} queued=#{queued?}>"
    end

    private

    def setup(native, ctx)
      @native = native
      @ctx = ctx
      self
    end

    def chain(native)
      self.class.allocate.__send__(:setup, native, @ctx)
    end

    def session
      @ctx.session || @ctx.lock.synchronize do
        @ctx.session ||= Session.new(redis: @ctx.url, connect_timeout: @ctx.connect_timeout,
                                     response_timeout: @ctx.response_timeout, pool_size: @ctx.pool_size)
      end
    end

    def merge(message, fields)
      return fields || {} if nil.equal?(message)
      return message if fields.nil? || fields.empty?

      message.to_h.merge(fields)
    end

    # The hot path: no payload, no Proc unless someone subscribed to emit.symple.
    def publish(method, count = 1, message: nil)
      if Instrumentation.listening?(:emit)
        payload = { method: method, target: target, count: count, rooms: rooms }
        payload[:message] = message if message
        Instrumentation.instrument(:emit, payload) { yield }
      else
        yield
      end
      true
    end
  end
end
