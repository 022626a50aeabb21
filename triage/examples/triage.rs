//! Stand-alone `triage` command for development: the same subcommands the
//! `switchboard` binary mounts under `switchboard triage`.
//!
//! ```sh
//! cargo run --release -p switchboard-triage --example triage -- train --help
//! ```

use std::process::ExitCode;

use clap::Parser;
use switchboard_triage::{TriageCommand, run_command};

#[derive(Parser)]
#[command(name = "triage", about = "Train, evaluate and run Switchboard's triage classifiers")]
struct Cli {
    #[command(subcommand)]
    command: TriageCommand,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run_command(cli.command, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
