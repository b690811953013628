# frozen_string_literal: true

class SessionsController < ApplicationController
  # Login: find or create the user, then a token row. Symple::SessionSync writes the session
  # when the row commits, so the token works on the Symple server as soon as this returns.
  def create
    user = User.find_or_create_by!(name: params.require(:name).to_s.strip)
    token = user.api_tokens.create!
    page = "#{Rails.configuration.x.symple_page}#token=#{token.token}&back=#{CGI.escape(request.base_url)}"
    return render(json: { token: token.token, user_id: user.id, page: page }) if json?

    redirect_to page, allow_other_host: true
  end

  # Logout: the row goes, and with it (after commit) the Redis session.
  def destroy
    token = current_token
    token&.destroy!
    render json: { logged_out: !token.nil? }
  end
end
