//! The `symple` command-line tool.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = symple::cli::Cli::parse();
    match symple::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("symple: error: {e}");
            if e.is_connection() {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}
