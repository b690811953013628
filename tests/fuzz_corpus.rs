//! Replays every saved fuzz input (`fuzz/corpus/<target>/`, and the inputs of crashes found
//! and fixed, `fuzz/regressions/<target>/`) through the checks the fuzz targets run, on
//! stable Rust, so CI keeps every finding fixed. Fuzzing itself needs cargo-fuzz (fuzz/README.md).

#[path = "../fuzz/checks.rs"]
mod checks;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

#[test]
fn every_saved_fuzz_input_passes_its_checks() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures = Vec::new();
    for (name, check) in checks::TARGETS {
        let mut replayed = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("a directory entry").path();
                let data = std::fs::read(&path).expect("read a saved input");
                if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                    failures.push(path.display().to_string());
                }
                replayed += 1;
            }
        }
        assert!(replayed > 0, "no saved inputs for the fuzz target {name}");
    }
    assert!(failures.is_empty(), "inputs that fail: {failures:?}");
}
