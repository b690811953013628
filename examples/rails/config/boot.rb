# frozen_string_literal: true

# No Bundler here: Rails comes from Debian's ruby-railties/ruby-activerecord packages, and the
# symple gem from this checkout (`rake compile` builds its extension into lib/), unless
# SYMPLE_GEM=installed asks for the installed gem.
$LOAD_PATH.unshift(File.expand_path("../../../lib", __dir__)) unless ENV["SYMPLE_GEM"] == "installed"
