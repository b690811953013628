# frozen_string_literal: true

# JSON for scripts (Accept: application/json), redirects and a small HTML page for people.
# No CSRF tokens or cookies: the demo binds to loopback and every request names its token.
class ApplicationController < ActionController::API
  private

  def current_token
    @current_token ||= ApiToken.find_by(token: params.require(:token).to_s)
  end

  def json?
    request.format.json?
  end
end
