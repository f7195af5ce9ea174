//! `accelsim plot`: figures from a sweep CSV.

use super::run::write_atomic;
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
    let text = std::fs::read_to_string(&a.input)
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
    if a.png {
        // Drawn to a temporary file beside the target, then renamed: readers never see half a PNG.
        let dir = a.out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        let name = a.out.file_name().ok_or_else(|| miette!("{} is not a file path", a.out.display()))?;
        let tmp = dir.join(format!(".{}.tmp{}.png", name.to_string_lossy(), std::process::id()));
        let res = png(&table, &opts, &tmp).map_err(fail);
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
            return res;
        }
        std::fs::rename(&tmp, &a.out).into_diagnostic().wrap_err_with(|| format!("cannot write {}", a.out.display()))
    } else {
        write_atomic(&a.out, svg(&table, &opts).map_err(fail)?.as_bytes())
    }
}
