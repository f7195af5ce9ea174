//! `accelsim plot`: figures from a sweep's output (CSV or JSON), written as SVG, PDF or PNG
//! by the output's extension.

use super::output::{check_output, write_output, Input};
use crate::plot::{export, style, FileFormat, PlotKind, PlotOptions, Table};
use miette::{miette, IntoDiagnostic, Result, WrapErr};
use std::path::PathBuf;

/// Figure kinds.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Latency and energy vs weight bits, one line per accelerator, a row per network.
    LatencyVsBits,
    /// Stacked energy bars per design point (MAC, buffers, DRAM, vector).
    EnergyBreakdown,
    /// Latency per layer, a panel per network (needs --per-layer rows).
    PerLayer,
    /// Layers on the roofline of their accelerator (needs --per-layer rows).
    Roofline,
    /// Pareto front of energy vs SQNR (energy vs latency without an sqnr_db column), one
    /// per network.
    Pareto,
    /// Speedup over a baseline accelerator (--baseline).
    Speedup,
    /// Layers x bits heat map of `accelsim sensitivity` output (the value: --sqnr-column,
    /// default output_sqnr_db; also layer_sqnr_db, top1_accuracy, top1_agreement).
    Sensitivity,
}

/// Arguments of `accelsim plot`.
#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// The output of `accelsim sweep` (CSV, or JSON from `--format json`).
    #[arg(long)]
    pub input: PathBuf,
    /// The figure.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Output file: `.pdf` (vector, font embedded), `.svg` or `.png`.
    #[arg(long)]
    pub out: PathBuf,
    /// Kept for old scripts: the output must then end in `.png`.
    #[arg(long, hide = true)]
    pub png: bool,
    /// Figure width with its unit: `3.5in` (one column), `7in` (two columns, the default),
    /// `89mm`, `183mm`.
    #[arg(long, value_parser = length)]
    pub width: Option<f64>,
    /// Figure height with its unit (default: per kind, and per row of panels).
    #[arg(long, value_parser = length)]
    pub height: Option<f64>,
    /// Resolution of a PNG in dots per inch.
    #[arg(long, default_value_t = 300.0)]
    pub dpi: f64,
    /// Size of tick and legend text in points (titles are larger).
    #[arg(long, default_value_t = 8.0)]
    pub font_size: f64,
    /// Baseline accelerator name for --kind speedup (default: the first in the input).
    #[arg(long)]
    pub baseline: Option<String>,
    /// Design point(s) to draw (per-layer, roofline, energy-breakdown; default: the first
    /// ones), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub point: Vec<usize>,
    /// SQNR column of the Pareto figure: `sqnr_db` (the model output, default) or
    /// `logits_sqnr_db` (the input of a final softmax; use it for random-weight built-in
    /// networks, whose softmax output is too flat to quantize). For `--kind sensitivity`, the
    /// column shown: `output_sqnr_db` (default), `layer_sqnr_db`, `top1_accuracy`, ...
    #[arg(long)]
    pub sqnr_column: Option<String>,
}

fn length(s: &str) -> std::result::Result<f64, String> {
    style::parse_length(s)
}

/// Reads a sweep's output, CSV or JSON (by the first character that is not whitespace).
fn read_table(path: &std::path::Path) -> Result<Table> {
    let text = crate::bounded_read::read_text(path, crate::bounded_read::MAX_TEXT_BYTES)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read {}", path.display()))?;
    let table = if text.trim_start().starts_with('[') { Table::from_json(&text) } else { Table::from_csv(&text) };
    table.map_err(|e| miette!("{}: {e}", path.display()))
}

/// `accelsim plot`.
pub fn plot(a: &PlotArgs) -> Result<()> {
    let format = FileFormat::of_path(&a.out).map_err(|e| miette!("--out {e}"))?;
    if a.png && format != FileFormat::Png {
        return Err(miette!("--png with --out {}: the output's extension chooses the format", a.out.display()));
    }
    if !(a.dpi.is_finite() && (30.0..=2400.0).contains(&a.dpi)) {
        return Err(miette!("--dpi {}: must be 30 to 2400", a.dpi));
    }
    let inputs = [Input::new("--input", &a.input)];
    check_output("--out", &a.out, &inputs).map_err(miette::Report::new)?;
    let table = read_table(&a.input)?;
    let kind = match a.kind {
        Kind::LatencyVsBits => PlotKind::LatencyVsBits,
        Kind::EnergyBreakdown => PlotKind::EnergyBreakdown,
        Kind::PerLayer => PlotKind::PerLayer,
        Kind::Roofline => PlotKind::Roofline,
        Kind::Pareto => PlotKind::Pareto,
        Kind::Speedup => PlotKind::Speedup,
        Kind::Sensitivity => PlotKind::Sensitivity,
    };
    let opts = PlotOptions {
        kind,
        baseline: a.baseline.clone(),
        points: a.point.clone(),
        sqnr_column: a.sqnr_column.clone(),
        width_in: a.width,
        height_in: a.height,
        font_pt: Some(a.font_size),
    };
    let fail = |e: crate::plot::PlotError| miette!("cannot plot {}: {e}", a.input.display());
    let drawn = crate::plot::render(&table, &opts).map_err(fail)?;
    for w in &drawn.warnings {
        eprintln!("warning: {w}");
    }
    let bytes = export::encode(&drawn.svg, format, a.dpi).map_err(fail)?;
    write_output("--out", &a.out, &bytes, &inputs).map_err(miette::Report::new)
}
