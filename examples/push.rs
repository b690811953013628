//! Pushes one message from Rust to a user, on both targets:
//! `cargo run --example push -- redis://127.0.0.1:6379 alice "hello"`.

use serde_json::json;
use symple::{Emitter, Target};

fn main() -> symple::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(symple::redis::default_url);
    let user = args.next().unwrap_or_else(|| "alice".to_owned());
    let text = args.next().unwrap_or_else(|| "hello from Rust".to_owned());

    // Socket.IO servers (npm `symple` 2.x) ...
    let socketio = Emitter::builder(&url).from("rust|example").connect()?;
    socketio.to(user.as_str()).send(json!({ "text": text }))?;
    // ... and native servers (this project's own), on `symple:broadcast`.
    let native = Emitter::builder(&url)
        .target(Target::Native)
        .from("rust|example")
        .connect()?;
    native.to(user.as_str()).send(json!({ "text": text }))?;
    println!("pushed {text:?} to {user} on both targets");
    Ok(())
}
