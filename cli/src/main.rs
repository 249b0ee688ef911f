//! `image-release`: the operator CLI. Wiring only; the commands are in `lib.rs`.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = image_release::Cli::parse();
    image_release::run(cli).await
}
