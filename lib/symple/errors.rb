# frozen_string_literal: true

module Symple
  # Base class of every error the gem raises; the message names what was wrong.
  class Error < StandardError; end

  # Redis could not be reached or the connection broke. The message names the URL (password
  # masked). A failed emit is never retried: Redis may have run it.
  class ConnectionError < Error; end

  # Redis answered a command with an error.
  class RedisError < Error; end

  # A message, or a value in it, cannot be sent (not a Hash, a Float NaN, an object without
  # a JSON form, an empty room, an unknown command action, ...).
  class InvalidMessage < Error; end

  # An address (`from`, `user|id`) is empty or malformed.
  class InvalidAddress < InvalidMessage; end

  # The native target needs a recipient (`to`); native servers drop messages without one.
  class MissingRecipient < InvalidMessage; end

  # A Socket.IO event name that Socket.IO keeps for itself (`connect`, `disconnect`, ...).
  class ReservedEvent < InvalidMessage; end

  # The chosen target cannot do this (`except` or room operations on the native target).
  class Unsupported < Error; end

  # Bad session input (no String `user`, a bad token or TTL) or a stored value that is not a
  # JSON object.
  class InvalidSession < Error; end

  # A setting that cannot work: an unknown target, a `redis:` that is neither a URL nor a
  # redis-rb client, a non-positive timeout.
  class ConfigurationError < Error; end
end
