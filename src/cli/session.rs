//! `symple session …`: the session store from the shell, with JSON output.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::protocol::Object;
use crate::session::{data_object, SessionStore, User};

#[derive(Debug, Args)]
pub(crate) struct SessionArgs {
    /// Redis URL [default: $SYMPLE_REDIS_URL, then $REDIS_URL, then redis://127.0.0.1:6379]
    #[arg(long, global = true)]
    url: Option<String>,
    #[command(subcommand)]
    command: SessionCommand,
}

#[derive(Debug, Subcommand)]
enum SessionCommand {
    /// Create a session; prints {"token": …}.
    Create {
        /// Session data: a JSON object whose `user` is a string or an integer.
        #[arg(long)]
        data: String,
        /// Seconds to live; omit for never.
        #[arg(long)]
        ttl: Option<i64>,
        /// Use this token instead of a random one (fails if taken).
        #[arg(long)]
        token: Option<String>,
    },
    /// Print the session object, or null.
    Get { token: String },
    /// Extend the TTL; prints {"existed": …}. Never creates a session.
    Touch {
        token: String,
        #[arg(long)]
        ttl: i64,
    },
    /// Merge fields into a session, keeping its TTL; prints {"existed": …}.
    Update {
        token: String,
        #[arg(long)]
        data: String,
    },
    /// Delete a session (logout); prints {"existed": …}.
    Delete { token: String },
    /// List a user's live sessions with their expiry. A bare integer is an integer user id;
    /// quote it as JSON ('"42"') for the user named "42".
    List { user: String },
    /// Delete every session of a user (same USER syntax as list); prints {"deleted": n}.
    DeleteUser { user: String },
    /// Remove bookkeeping of expired sessions; prints {"removed": n}.
    Cleanup,
}

/// `42` is the integer user, `"42"` (JSON-quoted) the user named "42", anything else a name.
fn user(text: &str) -> User {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Number(n)) if n.is_i64() => {
            n.as_i64().map_or_else(|| User::from(text), User::from)
        }
        Ok(Value::String(s)) => User::from(s),
        _ => User::from(text),
    }
}

fn data(text: &str) -> Result<Object> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| Error::InvalidSession(format!("--data is not valid JSON: {e}")))?;
    data_object(v)
}

pub(crate) fn run(args: SessionArgs) -> Result<()> {
    let url = args.url.unwrap_or_else(crate::redis::default_url);
    super::warn_if_insecure(&url);
    let out = match args.command {
        SessionCommand::Create {
            data: d,
            ttl,
            token,
        } => {
            let d = data(&d)?;
            let store = SessionStore::connect(url)?;
            let token = match token {
                Some(t) => {
                    store.create_with_token(&t, &d, ttl)?;
                    t
                }
                None => store.create(&d, ttl)?,
            };
            json!({ "token": token })
        }
        SessionCommand::Get { token } => match SessionStore::connect(url)?.get(&token)? {
            Some(obj) => Value::Object(obj),
            None => Value::Null,
        },
        SessionCommand::Touch { token, ttl } => {
            json!({ "existed": SessionStore::connect(url)?.touch(&token, ttl)? })
        }
        SessionCommand::Update { token, data: d } => {
            let d = data(&d)?;
            json!({ "existed": SessionStore::connect(url)?.update(&token, &d)? })
        }
        SessionCommand::Delete { token } => {
            json!({ "existed": SessionStore::connect(url)?.delete(&token)? })
        }
        SessionCommand::List { user: name } => {
            let store = SessionStore::connect(url)?;
            let items: Vec<Value> = store
                .list(user(&name))?
                .into_iter()
                .map(|s| json!({ "token": s.token, "expires_at": s.expires_at }))
                .collect();
            Value::Array(items)
        }
        SessionCommand::DeleteUser { user: name } => {
            json!({ "deleted": SessionStore::connect(url)?.delete_user(user(&name))? })
        }
        SessionCommand::Cleanup => json!({ "removed": SessionStore::connect(url)?.cleanup()? }),
    };
    println!("{out}");
    Ok(())
}
