//! `cargo run --release -p switchboard-kb --example kb -- <command>`: the
//! store-independent `kb` tools (eval, tune, split) without building the
//! `switchboard` binary. `switchboard kb …` has the same commands.

use clap::Parser;
use switchboard_kb::{KbToolCommand, run_tool};

#[derive(Parser)]
#[command(name = "kb", about = "Switchboard knowledge base tools: evaluate, tune, split")]
struct Cli {
    #[command(subcommand)]
    command: KbToolCommand,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run_tool(cli.command, &mut out) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
