//! A Rust worker that depends on `symple` the way the README shows
//! (`default-features = false`) gets the emitter and the session store without the server's
//! or the CLI's dependencies. Checked with `cargo tree` on a scratch crate with a path
//! dependency on this checkout, resolved offline against this repository's lock file.

mod support;

use std::process::Command;

/// Crates a worker must not pull in: the server's HTTP/WebSocket/TLS stack and the CLI.
const SERVER_ONLY: [&str; 6] = [
    "axum",
    "hyper",
    "tungstenite",
    "tokio-tungstenite",
    "rustls",
    "clap",
];

fn tree(features: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "lean-worker-{}",
        if features.is_empty() {
            "default"
        } else {
            features
        }
    ));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let repo = support::repo_path("");
    let manifest = format!(
        r#"[package]
name = "worker"
version = "0.1.0"
edition = "2021"

[workspace]

[dependencies]
symple = {{ path = {:?}, default-features = false{} }}
"#,
        repo.display().to_string(),
        if features.is_empty() {
            String::new()
        } else {
            format!(", features = [{features:?}]")
        }
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        "fn main() { let _ = symple::Emitter::connect(\"redis://127.0.0.1:1\"); }\n",
    )
    .unwrap();
    // The same versions as this checkout, so the tree resolves offline.
    std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--prefix",
            "none",
            "-e",
            "normal,build",
        ])
        .current_dir(&dir)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut crates: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    crates.sort();
    crates.dedup();
    crates
}

#[test]
fn a_worker_gets_no_server_dependencies() {
    let crates = tree("");
    assert!(crates.iter().any(|c| c == "symple"), "{crates:?}");
    assert!(crates.iter().any(|c| c == "redis"), "{crates:?}");
    for banned in SERVER_ONLY {
        assert!(
            !crates.iter().any(|c| c == banned),
            "{banned} is in a lean worker's tree: {crates:?}"
        );
    }
    // The README quotes this count; a big jump means a heavy dependency crept in.
    assert!(crates.len() < 100, "{} crates: {crates:?}", crates.len());
}

#[test]
fn the_server_feature_brings_the_server() {
    let crates = tree("server");
    for wanted in ["axum", "hyper", "tokio-tungstenite", "tokio-rustls"] {
        assert!(crates.iter().any(|c| c == wanted), "{wanted}: {crates:?}");
    }
}
