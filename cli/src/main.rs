//! `image-release`: the operator CLI. Wiring only; the commands are in `lib.rs`.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match image_release::Cli::try_parse() {
        Ok(cli) => image_release::run(cli).await,
        // `--help` and `--version` print and exit 0 as clap does; a refused command line is
        // the contract's exit 2, as JSON when `--json` was asked for.
        Err(e) => image_release::contract::usage_error(&e, std::env::args().any(|a| a == "--json")),
    }
}
