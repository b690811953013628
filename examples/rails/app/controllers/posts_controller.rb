# frozen_string_literal: true

class PostsController < ApplicationController
  def create
    return head(:unauthorized) unless current_token

    post = current_token.user.posts.create!(title: params.require(:title).to_s)
    render json: { id: post.id, user_id: post.user_id }
  end
end
