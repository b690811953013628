# frozen_string_literal: true

require_relative "errors"

# The compiled extension (ext/symple): Symple::Native::Emitter, Symple::Native::SessionStore
# and the process hooks. `rake compile` puts it next to this file; `gem install` puts it in
# the gem's extension directory, which is on the load path too.
begin
  require "symple/symple_native"
rescue LoadError => e
  raise LoadError, "symple: the native extension is not built (#{e.message}); " \
                   "run `rake compile` in a checkout, or reinstall the gem"
end
