//! `accelsim plot`: figures from a sweep CSV.

use super::output::{write_output, Input};
use crate::plot::{png, svg, PlotKind, PlotOptions, Table};
use miette::{miette, IntoDiagnostic, Result, WrapErr};
use std::path::PathBuf;

/// Figure kinds.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Latency and energy vs weight bits, one line per accelerator.
    LatencyVsBits,
    /// Stacked energy bars per design point (MAC, buffers, DRAM, vector).
    EnergyBreakdown,
    /// Latency per layer (needs --per-layer rows).
    PerLayer,
    /// Layers on the roofline of their accelerator (needs --per-layer rows).
    Roofline,
    /// Pareto front of energy vs SQNR (energy vs latency without an sqnr_db column).
    Pareto,
    /// Speedup over a baseline accelerator (--baseline).
    Speedup,
}

/// Arguments of `accelsim plot`.
#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// A CSV written by `accelsim sweep`.
    #[arg(long)]
    pub input: PathBuf,
    /// The figure.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Output file (SVG unless --png).
    #[arg(long)]
    pub out: PathBuf,
    /// Write a PNG instead of an SVG.
    #[arg(long)]
    pub png: bool,
    /// Baseline accelerator name for --kind speedup (default: the first in the input).
    #[arg(long)]
    pub baseline: Option<String>,
    /// Design point(s) for per-layer and roofline figures (default: the first ones).
    #[arg(long, value_delimiter = ',')]
    pub point: Vec<usize>,
    /// SQNR column of the Pareto figure: `sqnr_db` (the model output, default) or
    /// `logits_sqnr_db` (the input of a final softmax; use it for random-weight built-in
    /// networks, whose softmax output is too flat to quantize).
    #[arg(long)]
    pub sqnr_column: Option<String>,
}

/// `accelsim plot`.
pub fn plot(a: &PlotArgs) -> Result<()> {
    let text = crate::bounded_read::read_text(&a.input, crate::bounded_read::MAX_TEXT_BYTES)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read {}", a.input.display()))?;
    let table = Table::from_csv(&text).map_err(|e| miette!("{}: {e}", a.input.display()))?;
    let kind = match a.kind {
        Kind::LatencyVsBits => PlotKind::LatencyVsBits,
        Kind::EnergyBreakdown => PlotKind::EnergyBreakdown,
        Kind::PerLayer => PlotKind::PerLayer,
        Kind::Roofline => PlotKind::Roofline,
        Kind::Pareto => PlotKind::Pareto,
        Kind::Speedup => PlotKind::Speedup,
    };
    let opts =
        PlotOptions { kind, baseline: a.baseline.clone(), points: a.point.clone(), sqnr_column: a.sqnr_column.clone() };
    let fail = |e: crate::plot::PlotError| miette!("cannot plot {}: {e}", a.input.display());
    let bytes = if a.png {
        // plotters draws PNGs to a path: a private temporary directory, read back and
        // handed to the one output writer like every other output.
        let dir = tempfile::tempdir().into_diagnostic().wrap_err("cannot create a temporary directory")?;
        let tmp = dir.path().join("figure.png");
        png(&table, &opts, &tmp).map_err(fail)?;
        std::fs::read(&tmp).into_diagnostic().wrap_err("cannot read back the drawn PNG")?
    } else {
        svg(&table, &opts).map_err(fail)?.into_bytes()
    };
    write_output("--out", &a.out, &bytes, &[Input::new("--input", &a.input)]).map_err(miette::Report::new)
}
