//! The `symple` command-line tool.

use std::process::ExitCode;

use clap::Parser;

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
