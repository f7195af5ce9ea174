//! The `accelsim` command line (minimal until the main command tree lands: `exec` only).

#[path = "cli/exec.rs"]
mod exec;

use clap::Parser;

/// accelsim: hardware-accelerator simulator and cost model for quantized neural networks.
#[derive(Parser, Debug)]
#[command(name = "accelsim", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Run a .tflite model bit-exactly on a raw input.
    Exec(exec::ExecArgs),
}

fn main() -> miette::Result<()> {
    match Cli::parse().cmd {
        Cmd::Exec(a) => exec::exec(&a),
    }
}
