# frozen_string_literal: true

module Symple
  VERSION = "0.1.0"
end
