//! The `accelsim` binary: a thin shell over [`accelsim::cli`].

use clap::Parser;

fn main() -> miette::Result<()> {
    accelsim::cli::main_with(accelsim::cli::Cli::parse())
}
