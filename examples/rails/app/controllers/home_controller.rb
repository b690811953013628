# frozen_string_literal: true

class HomeController < ApplicationController
  def index
    render html: <<~HTML.html_safe
      <!doctype html><meta charset="utf-8"><title>symple demo: the Rails side</title>
      <style>body{font:15px system-ui,sans-serif;margin:2em;max-width:40em}form{margin:1em 0}</style>
      <h1>The Rails side</h1>
      <p>Log in: Rails creates an <code>ApiToken</code>; its <code>after_commit</code> writes the Symple
      session, and you land on the page that <code>symple server --demo</code> serves.</p>
      <form method="post" action="/login"><input name="name" placeholder="alice" required> <button>Log in</button></form>
      <p>Post as someone (the <code>Post</code>'s <code>after_commit</code> pushes to its author):</p>
      <form method="post" action="/posts"><input name="token" placeholder="token" required>
        <input name="title" placeholder="title" required> <button>Post</button></form>
      <p>Log out (the session is deleted; the server disconnects that browser):</p>
      <form method="post" action="/logout"><input name="token" placeholder="token" required> <button>Log out</button></form>
    HTML
  end

  def up
    render json: { ok: true }
  end
end
