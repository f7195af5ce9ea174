//! `accelsim sweep` and `accelsim merge`: design-space sweeps and joining their shards.

use super::run::emit;
use crate::map::tiling::Objective;
use crate::sweep::plan::{granularity, objective, parse_set, widths, Functional, SweepSpec};
use crate::sweep::{merge_csv, run_sweep, to_csv, to_json, Shard};
use indicatif::{ProgressBar, ProgressStyle};
use miette::{miette, IntoDiagnostic, Result, WrapErr};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Output formats of a sweep.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepFormat {
    /// Tidy CSV, one row per design point (and per layer with `--per-layer`).
    Csv,
    /// A JSON array of the same rows.
    Json,
}

/// Arguments of `accelsim sweep`.
#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// Accelerators (presets or TOML files), comma-separated or repeated.
    #[arg(long, value_delimiter = ',', conflicts_with = "config")]
    pub hw: Vec<String>,
    /// Names of the accelerators in the output, one per --hw, comma-separated (default: the
    /// preset name or file stem).
    #[arg(long, value_delimiter = ',', conflicts_with = "config")]
    pub name: Vec<String>,
    /// Networks (built-in names or model files), comma-separated or repeated.
    #[arg(long, value_delimiter = ',', conflicts_with = "config")]
    pub model: Vec<String>,
    /// Weight bit widths, comma-separated (default 8).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, conflicts_with = "config")]
    pub wbits: Vec<i64>,
    /// Activation bit widths, comma-separated (default 8).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, conflicts_with = "config")]
    pub abits: Vec<i64>,
    /// Sweep a field of the accelerator description: `--set mac.rows=16,32,64`,
    /// `--set mac.dataflow=os,ws,is`.
    #[arg(long = "set", value_name = "PATH=V1,V2,...", conflicts_with = "config")]
    pub sets: Vec<String>,
    /// MobileNet width multiplier.
    #[arg(long, default_value_t = 1.0, conflicts_with = "config")]
    pub width: f64,
    /// Input resolution (square) for networks that allow it.
    #[arg(long, conflicts_with = "config")]
    pub resolution: Option<usize>,
    /// A sweep TOML file instead of the lists above (format: `docs/sweeps.md`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Add one row per layer after each design point's total row.
    #[arg(long)]
    pub per_layer: bool,
    /// Join output SQNR and top-1 agreement (quantized vs float run on the accelerator's
    /// arithmetic), computed once per (network, widths, arithmetic).
    #[arg(long, conflicts_with = "config")]
    pub functional: bool,
    /// Calibration images (float32 `.npy`) of --functional (built-ins: synthetic by default).
    #[arg(long, requires = "functional", conflicts_with = "config")]
    pub calib: Option<PathBuf>,
    /// Evaluation images of --functional (default: synthetic for built-ins, else --calib).
    #[arg(long, requires = "functional", conflicts_with = "config")]
    pub eval: Option<PathBuf>,
    /// Weight scale granularity of --functional: per-channel or per-tensor.
    #[arg(long, requires = "functional", conflicts_with = "config")]
    pub granularity: Option<String>,
    /// Run only shard I of N (0-based, contiguous blocks of points): `--shard 0/4`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// What each layer's schedule is chosen for: latency (default), energy or edp.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Objective::NAMES))]
    pub objective: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SweepFormat::Csv)]
    pub format: SweepFormat,
    /// Write the output to this file (atomically) instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Arguments of `accelsim merge`.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// CSV outputs of `accelsim sweep --shard`.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write the merged CSV here (atomically) instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Resolves the arguments into a sweep plan.
pub fn spec_of(a: &SweepArgs) -> Result<SweepSpec> {
    let mut spec = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot read {}", path.display()))?;
            let mut spec = SweepSpec::from_toml(&path.display().to_string(), &text).map_err(|e| miette!("{e}"))?;
            spec.resolve_paths(path.parent().unwrap_or(std::path::Path::new("")));
            spec
        }
        None => {
            let spec = SweepSpec {
                hw: a.hw.clone(),
                hw_names: a.name.clone(),
                models: a.model.clone(),
                wbits: widths("--wbits", &a.wbits).map_err(|e| miette!("{e}"))?,
                abits: widths("--abits", &a.abits).map_err(|e| miette!("{e}"))?,
                sets: a.sets.iter().map(|s| parse_set(s)).collect::<Result<_, _>>().map_err(|e| miette!("{e}"))?,
                width: a.width,
                resolution: a.resolution,
                per_layer: false,
                objective: Objective::default(),
                widths_given: !a.wbits.is_empty() || !a.abits.is_empty(),
                functional: if a.functional {
                    Some(Functional {
                        calib: a.calib.as_ref().map(|p| p.display().to_string()),
                        eval: a.eval.as_ref().map(|p| p.display().to_string()),
                        per_channel: granularity("--granularity", a.granularity.as_deref().unwrap_or("per-channel"))
                            .map_err(|e| miette!("{e}"))?,
                    })
                } else {
                    None
                },
            };
            spec.check().map_err(|e| miette!("{e}"))?;
            spec
        }
    };
    spec.per_layer |= a.per_layer;
    if let Some(name) = &a.objective {
        spec.objective = objective("--objective", name).map_err(|e| miette!("{e}"))?;
    }
    Ok(spec)
}

/// `accelsim sweep`.
pub fn sweep(a: &SweepArgs) -> Result<()> {
    let spec = spec_of(a)?;
    if let Some(out) = &a.out {
        super::run::check_out_path(out)?;
    }
    let shard = a.shard.unwrap_or(Shard::ALL);
    let points: Vec<_> = shard.range(spec.len()).map(|i| spec.point(i)).collect();
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(points.len() as u64);
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} points, {per_sec}, eta {eta}") {
            b.set_style(style);
        }
        b
    } else {
        ProgressBar::hidden()
    };
    let tick = || bar.inc(1);
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = a.threads {
        pool = pool.num_threads(n.max(1));
    }
    let pool = pool.build().into_diagnostic()?;
    let run = pool.install(|| run_sweep(&spec, &points, &tick));
    bar.finish_and_clear();
    let results = run.results;
    let text = match a.format {
        SweepFormat::Csv => to_csv(&spec, &results).into_diagnostic()?,
        SweepFormat::Json => {
            let mut s = serde_json::to_string_pretty(&to_json(&spec, &results)).into_diagnostic()?;
            s.push('\n');
            s
        }
    };
    emit(a.out.as_deref(), &text)?;
    if spec.functional.is_some() {
        eprintln!("functional evaluations: {} for {} design points", run.functional_evals, results.len());
    }
    let failed: Vec<_> = results.iter().filter(|r| r.error.is_some()).collect();
    let all_failed = !results.is_empty() && failed.len() == results.len();
    if !failed.is_empty() {
        eprintln!("{} of {} design points failed:", failed.len(), results.len());
        for r in failed {
            let p = &r.point;
            let sets: String = spec.overrides(p).iter().map(|(k, v)| format!(", {k}={v}")).collect();
            let widths = match &r.own_widths {
                Some(_) => "own widths".to_string(),
                None => format!("w{} a{}", p.wbits, p.abits),
            };
            eprintln!(
                "  point {}: {} / {}, {}{}: {}",
                p.index,
                r.hw,
                r.model,
                widths,
                sets,
                r.error.as_deref().unwrap_or("")
            );
        }
    }
    if all_failed {
        return Err(miette!("no design point succeeded ({} failed, see above)", results.len()));
    }
    Ok(())
}

/// `accelsim merge`.
pub fn merge(a: &MergeArgs) -> Result<()> {
    let inputs = a
        .inputs
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot read {}", p.display()))
                .map(|t| (p.display().to_string(), t))
        })
        .collect::<Result<Vec<_>>>()?;
    let text = merge_csv(&inputs).map_err(|e| miette!("{e}"))?;
    emit(a.out.as_deref(), &text)
}
