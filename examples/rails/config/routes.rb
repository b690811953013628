# frozen_string_literal: true

Rails.application.routes.draw do
  root "home#index"
  post "/login", to: "sessions#create"
  post "/logout", to: "sessions#destroy"
  post "/posts", to: "posts#create"
  get "/up", to: "home#up"
end
