//! The `symple` command-line tool.

use std::process::ExitCode;

use clap::Parser;

/// jemalloc rather than glibc's malloc: an idle server connection is a few dozen small
/// blocks, some aligned to a cache line (tokio's task and I/O cells), which glibc pads and
/// fragments; jemalloc packs them in size classes (benches/README.md, "Memory per idle
/// connection").
#[cfg(feature = "server")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = jemalloc::ALLOCATOR;

/// jemalloc's settings, read before `main` (its `malloc_conf`, a C `const char *`): one
/// arena (a server on a few cores gains little from more, and each keeps partly used
/// pages), and pages freed by a burst of connects or a fan-out returned to the system by
/// a background thread within a second rather than kept (the default keeps them 10 s and
/// only returns them when the allocator is busy), and thread caches only for blocks up to
/// 1 KiB: larger ones kept per thread after a burst of connects stay resident (~0.6 KB per
/// connection at 1,000), and the delivery path allocates none (its write buffers are
/// reused, `server::ws`).
#[cfg(feature = "server")]
mod jemalloc {
    pub const ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

    #[export_name = "_rjem_malloc_conf"]
    static MALLOC_CONF: &u8 =
        &b"narenas:1,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,tcache_max:1024\0"
            [0];
}

fn main() -> ExitCode {
    let cli = symple::cli::Cli::parse();
    match symple::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("symple: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
