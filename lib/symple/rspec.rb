# frozen_string_literal: true

require "rspec/expectations"
require "symple"
require "symple/testing"

module Symple
  # RSpec matchers over Symple::Testing's fake mode (in the spirit of ActionCable's
  # `have_broadcasted_to`). `require "symple/rspec"` includes them in every example group and
  # clears the recordings before each example; turn fake mode on with Symple::Testing.fake!.
  #
  #   expect { post.save! }.to have_broadcasted_symple.to(post.user_id)
  #   expect { post.save! }.to have_broadcasted_symple.to("lobby").with(subtype: "post:create", data: a_hash_including("id" => post.id))
  #   expect { post.save! }.not_to have_broadcasted_symple.to(other.id)
  #   expect { 3.times { post.touch } }.to have_broadcasted_symple.exactly(3).times
  #   expect(api_token.token).to have_symple_session.with("user" => user.id)
  module RSpec
    # A block matcher: pushes made while the block runs.
    class HaveBroadcasted
      include ::RSpec::Matchers::Composable

      def initialize
        @rooms = nil
        @fields = {}
        @count = nil
      end

      # Only pushes whose rooms include each of these (an Integer room is not its String).
      def to(*rooms)
        @rooms = rooms.flatten
        self
      end

      # Only pushes whose message has these fields (values may be RSpec matchers); a block
      # gets each matching message for further expectations.
      def with(fields = {}, &block)
        @fields = fields.transform_keys(&:to_s)
        @block = block
        self
      end

      def exactly(count)
        @count = count
        self
      end

      def once = exactly(1)
      def twice = exactly(2)
      def times = self

      def supports_block_expectations? = true

      def matches?(block)
        raise ArgumentError, "have_broadcasted_symple needs a block: expect { ... }.to have_broadcasted_symple" unless block.is_a?(Proc)
        unless Symple::Testing.fake?
          raise "have_broadcasted_symple needs Symple::Testing.fake! (pushes are recorded only in fake mode)"
        end

        before = Symple::Testing.pushes.size
        block.call
        @seen = Symple::Testing.pushes.drop(before)
        @matching = @seen.select { |push| match?(push) }
        @matching.each { |push| @block.call(push.message) } if @block
        @count ? @matching.size == @count : @matching.any?
      end

      def does_not_match?(block)
        !matches?(block) && (@count ? true : @matching.empty?)
      end

      def failure_message
        "expected #{expectation}, got #{@matching.size}; pushes seen:\n#{seen}"
      end

      def failure_message_when_negated
        "expected no #{expectation.sub(/\A(exactly \d+ )?push/, "push")}, got #{@matching.size}:\n#{seen}"
      end

      def description
        "have broadcasted #{expectation}"
      end

      private

      def match?(push)
        (@rooms.nil? || @rooms.all? { |r| push.rooms.include?(r) }) &&
          @fields.all? { |k, v| push.message.key?(k) && values_match?(v, push.message[k]) }
      end

      def expectation
        s = @count ? "exactly #{@count} push(es)" : "a push"
        s += " to #{@rooms.inspect}" if @rooms
        s += " with #{@fields.inspect}" unless @fields.empty?
        s
      end

      def seen
        return "  (none)" if @seen.empty?

        @seen.map { |p| "  #{p.method} to #{p.rooms.inspect}: #{p.message.inspect}" }.join("\n")
      end
    end

    # A value matcher on a token: a live session in the fake store, with these fields.
    class HaveSession
      include ::RSpec::Matchers::Composable

      def initialize
        @fields = {}
      end

      def with(fields)
        @fields = fields.transform_keys(&:to_s)
        self
      end

      def matches?(token)
        raise "have_symple_session needs Symple::Testing.fake!" unless Symple::Testing.fake?

        @token = token.to_s
        @data = Symple::Testing.sessions[@token]
        !@data.nil? && @fields.all? { |k, v| @data.key?(k) && values_match?(v, @data[k]) }
      end

      def failure_message
        return "expected a Symple session for #{@token.inspect}, there is none" if @data.nil?

        "expected the Symple session #{@token.inspect} to have #{@fields.inspect}, it is #{@data.inspect}"
      end

      def failure_message_when_negated
        "expected no Symple session for #{@token.inspect}, it is #{@data.inspect}"
      end

      def description
        "have a Symple session#{" with #{@fields.inspect}" unless @fields.empty?}"
      end
    end

    # Included in example groups by `require "symple/rspec"`.
    module Matchers
      def have_broadcasted_symple
        HaveBroadcasted.new
      end

      def have_symple_session
        HaveSession.new
      end
    end
  end
end

if defined?(RSpec) && RSpec.respond_to?(:configure)
  RSpec.configure do |config|
    config.include Symple::RSpec::Matchers
    config.before { Symple::Testing.clear! }
  end
end
