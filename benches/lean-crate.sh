#!/usr/bin/env bash
# What a Rust worker that depends on symple pays: a fresh crate whose main.rs emits one message,
# depending by path on a clean export of this checkout's HEAD (with its lock file), once with
# `default-features = false` and once with the defaults. Prints the crates `cargo tree` lists,
# whether any server/CLI crate is among them, and a first debug build's wall and CPU time (CPU
# is the figure to compare on a busy machine). Everything lives in a temporary directory,
# removed at the end (each build's target directory takes up to ~2 GB meanwhile).
#
#   benches/lean-crate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git archive HEAD | tar -x -C "$work" --one-top-level=symple
for variant in lean default; do
  dir="$work/worker-$variant"
  mkdir -p "$dir/src"
  features=""
  [[ $variant == lean ]] && features=", default-features = false"
  cat >"$dir/Cargo.toml" <<TOML
[package]
name = "worker"
version = "0.1.0"
edition = "2021"

[dependencies]
symple = { path = "$work/symple"$features }
serde_json = "1"
TOML
  cat >"$dir/src/main.rs" <<'RS'
fn main() -> Result<(), symple::Error> {
    let emitter = symple::Emitter::builder("redis://127.0.0.1:6379")
        .target(symple::Target::Native)
        .connect()?;
    emitter.to(42).send(serde_json::json!({"text": "hi"}))?;
    Ok(())
}
RS
  cp "$work/symple/Cargo.lock" "$dir/Cargo.lock"
  crates=$(cd "$dir" && cargo tree --offline --prefix none -e normal,build | awk '{print $1}' | sort -u)
  heavy=$(grep -xE 'axum|hyper|tungstenite|tokio-tungstenite|rustls|clap' <<<"$crates" | tr '\n' ' ' || true)
  load=$(cut -d' ' -f1 /proc/loadavg)
  took=$( { /usr/bin/time -f "%e s wall, %U s user + %S s system CPU" \
            cargo build --offline --quiet --manifest-path "$dir/Cargo.toml" --target-dir "$dir/target"; } 2>&1 | tail -1)
  echo "$variant: $(wc -l <<<"$crates") crates; server/CLI crates: [${heavy% }]; first debug build: $took (load average $load before, $(nproc) CPUs)"
  rm -rf "$dir/target"
done
