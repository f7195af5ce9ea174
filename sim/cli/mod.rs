//! The command-line interface: parses arguments into plans and hands them to the library.
//! Only this module (and importers / report writers) touch files.

mod compare;
mod estimate;
pub mod exec;
pub mod output;
mod plot;
mod progress;
pub mod quantize;
pub mod run;
pub mod search;
pub mod sensitivity;
pub mod sweep;
pub mod sweep_stream;

use clap::{Parser, Subcommand};

/// accelsim: simulate quantized neural networks on hardware accelerators.
#[derive(Parser, Debug)]
#[command(name = "accelsim", version, about, long_about = None)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Sub-commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Cost a network on an accelerator: latency, memory traffic and energy per layer.
    Run(run::RunArgs),
    /// Run a quantized model bit-exactly (integer-only arithmetic as LiteRT's reference kernels).
    Exec(exec::ExecArgs),
    /// Post-training quantization of a float model to 2-16 bits (writes an `.aqm` model).
    Quantize(quantize::QuantizeArgs),
    /// Per-layer sensitivity: each layer alone at each width, the rest at a reference width.
    Sensitivity(sensitivity::SensitivityArgs),
    /// Mixed precision: per-layer widths searched against the accelerator's cost, every
    /// reported point verified bit-exactly.
    Search(search::SearchArgs),
    /// NVIDIA's NVDLA spreadsheet estimator: per-layer rows and frames/s.
    NvdlaEstimate(estimate::EstimateArgs),
    /// Cost the cartesian product of accelerators, networks, widths and overrides.
    Sweep(sweep::SweepArgs),
    /// Join the CSV outputs of sweep shards, in point order.
    Merge(sweep::MergeArgs),
    /// Draw a figure from a sweep CSV.
    Plot(plot::PlotArgs),
    /// Two `run --format json` outputs side by side, with ratios B/A.
    Compare(compare::CompareArgs),
    /// List the built-in networks.
    Models,
    /// Accelerator descriptions.
    Hw {
        /// What to do.
        #[command(subcommand)]
        command: HwCommand,
    },
}

/// `accelsim hw ...`
#[derive(Subcommand, Debug)]
pub enum HwCommand {
    /// Print a description as accelsim resolved it (units applied, defaults filled).
    Show {
        /// A TOML file or a preset name.
        file: String,
    },
    /// List the presets.
    List,
}

/// Runs the parsed command.
pub fn main_with(cli: Cli) -> miette::Result<()> {
    match cli.command {
        Command::Run(a) => run::run(&a),
        Command::Exec(a) => exec::exec(&a),
        Command::Quantize(a) => quantize::quantize(&a),
        Command::Sensitivity(a) => sensitivity::run(&a),
        Command::Search(a) => search::run(&a),
        Command::NvdlaEstimate(a) => estimate::run(&a),
        Command::Sweep(a) => sweep::sweep(&a),
        Command::Merge(a) => sweep::merge(&a),
        Command::Plot(a) => plot::plot(&a),
        Command::Compare(a) => compare::compare(&a),
        Command::Models => run::list_models(),
        Command::Hw { command: HwCommand::Show { file } } => run::show_hw(&file),
        Command::Hw { command: HwCommand::List } => {
            let names: String = crate::hw::presets::names().iter().map(|n| format!("{n}\n")).collect();
            run::emit(None, &names, &[])
        }
    }
}
