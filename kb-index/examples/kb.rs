//! `cargo run --release -p switchboard-kb --example kb -- <command>`: the
//! `kb` commands without the `switchboard` binary.

use clap::Parser;
use switchboard_kb::{KbCommand, run_command};

#[derive(Parser)]
#[command(name = "kb", about = "Switchboard knowledge base: import, search, evaluate, tune")]
struct Cli {
    #[command(subcommand)]
    command: KbCommand,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run_command(cli.command, &mut out) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
