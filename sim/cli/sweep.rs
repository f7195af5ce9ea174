//! `accelsim sweep` and `accelsim merge`: design-space sweeps and joining their shards.

use super::output::{open_stream, Input};
use super::run::emit;
use super::sweep_stream::{resume_at, Rows, StreamError};
use crate::map::tiling::Objective;
use crate::sweep::axes::RawAxes;
use crate::sweep::plan::{granularity, objective, parse_set, widths, Functional, SweepSpec};
use crate::sweep::run::{used_by_range, Sweeper};
use crate::sweep::table::header;
use crate::sweep::{merge_csv, Shard};
use miette::{miette, IntoDiagnostic, Result, WrapErr};
use std::io::Write;
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
    /// Images per batch: each network runs on this many images at once (weights fetched
    /// once per tile for all of them where the schedule allows); figures are per batch.
    #[arg(long, default_value_t = 1, conflicts_with = "config")]
    pub batch: usize,
    /// Transformers: the phases to sweep, `prefill` (at each --seq-len) and/or `decode` (at
    /// each --kv-len), comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(["prefill", "decode"]), conflicts_with = "config")]
    pub phase: Vec<String>,
    /// Prefill: prompt lengths, comma-separated (implies --phase prefill when alone).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, conflicts_with = "config")]
    pub seq_len: Vec<i64>,
    /// Decode: KV-cache lengths, comma-separated.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, conflicts_with = "config")]
    pub kv_len: Vec<i64>,
    /// Decode: KV-cache widths, comma-separated (default: the activation width).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, conflicts_with = "config")]
    pub kv_bits: Vec<i64>,
    /// Decode: KV-cache group sizes along each head's features, comma-separated (-1: no
    /// groups).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, value_name = "G", conflicts_with = "config")]
    pub kv_group: Vec<i64>,
    /// With --kv-group: one zero point per group.
    #[arg(long = "kv-group-zero-point", conflicts_with = "config")]
    pub kv_group_zero_point: bool,
    /// Weight group sizes along the reduction axis, comma-separated (-1: per channel), as
    /// `run --wgroup`.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, value_name = "G", conflicts_with = "config")]
    pub wgroup: Vec<i64>,
    /// With --wgroup: one zero point per group, at the weight width.
    #[arg(long = "wgroup-zero-point", conflicts_with = "config")]
    pub wgroup_zero_point: bool,
    /// Activation scales to sweep, comma-separated: static, dynamic, dynamic-asym (as `run
    /// --act-scales`).
    #[arg(long = "act-scales", value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(crate::quant::ActScales::NAMES), conflicts_with = "config")]
    pub act_scales: Vec<String>,
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
    /// Class labels of the --eval images (integer `.npy`, one per image): adds the
    /// `top1_accuracy` (and `top5_accuracy`) columns.
    #[arg(long, requires = "eval", conflicts_with = "config")]
    pub labels: Option<PathBuf>,
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
    /// Write the output to this file instead of standard output. Rows are written as the
    /// points complete (in point order), so an interrupted sweep keeps its finished points.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the partial CSV of --out left by an interrupted run of the same sweep: its
    /// points are kept (the last one is redone) and the sweep goes on after them.
    #[arg(long)]
    pub resume: bool,
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
            let text = crate::bounded_read::read_text(path, crate::bounded_read::MAX_TEXT_BYTES)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot read {}", path.display()))?;
            let mut spec = SweepSpec::from_toml(&path.display().to_string(), &text).map_err(|e| miette!("{e}"))?;
            spec.resolve_paths(path.parent().unwrap_or(std::path::Path::new("")));
            spec
        }
        None => {
            let seq = RawAxes {
                phase: a.phase.clone(),
                seq_len: a.seq_len.clone(),
                kv_len: a.kv_len.clone(),
                wgroup: a.wgroup.clone(),
                wgroup_zero_point: a.wgroup_zero_point,
                act_scales: a.act_scales.clone(),
                kv_bits: a.kv_bits.clone(),
                kv_group: a.kv_group.clone(),
                kv_group_zero_point: a.kv_group_zero_point,
            }
            .resolve(&|f| format!("--{f}"))
            .map_err(|e| miette!("{e}"))?;
            let spec = SweepSpec {
                seq,
                hw: a.hw.clone(),
                hw_names: a.name.clone(),
                models: a.model.clone(),
                wbits: widths("--wbits", &a.wbits).map_err(|e| miette!("{e}"))?,
                abits: widths("--abits", &a.abits).map_err(|e| miette!("{e}"))?,
                sets: a.sets.iter().map(|s| parse_set(s)).collect::<Result<_, _>>().map_err(|e| miette!("{e}"))?,
                width: a.width,
                resolution: a.resolution,
                batch: a.batch,
                per_layer: false,
                objective: Objective::default(),
                widths_given: !a.wbits.is_empty() || !a.abits.is_empty(),
                functional: if a.functional {
                    Some(Functional {
                        calib: a.calib.as_ref().map(|p| p.display().to_string()),
                        eval: a.eval.as_ref().map(|p| p.display().to_string()),
                        labels: a.labels.as_ref().map(|p| p.display().to_string()),
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

/// Points per thread in a batch: large enough to keep the threads busy, small enough that
/// a batch's rows (up to one per layer per point) take little memory.
const POINTS_PER_THREAD: usize = 16;

/// Failed points listed on stderr at the end (the rest are counted).
const LISTED_FAILURES: usize = 50;

/// `accelsim sweep`: runs the points in batches and streams each batch's rows (see
/// [`super::sweep_stream`]).
pub fn sweep(a: &SweepArgs) -> Result<()> {
    sweep_to(a, Box::new(std::io::stdout()))
}

/// [`sweep`], writing to `stdout` when there is no `--out` (the Python package passes a
/// buffer here and parses the JSON rows, so its table is the CLI's).
pub fn sweep_to(a: &SweepArgs, stdout: Box<dyn Write>) -> Result<()> {
    sweep_with_progress(a, stdout, &mut |_, _| true)
}

/// [`sweep_to`], calling `progress(points done, points in the run)` after each batch of
/// points is written (on the calling thread); the sweep stops with an error when it
/// returns false (the Python package's progress callback raised).
pub fn sweep_with_progress(
    a: &SweepArgs,
    stdout: Box<dyn Write>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<()> {
    let spec = spec_of(a)?;
    if let Some(f) = &spec.functional {
        crate::sweep::functional::check_label_file(f).map_err(|e| miette!("{e}"))?;
    }
    let range = a.shard.unwrap_or(Shard::ALL).range(spec.len());
    let inputs = sweep_inputs(a, &spec);
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = a.threads {
        pool = pool.num_threads(n.max(1));
    }
    let pool = pool.build().into_diagnostic()?;
    let (out, mut start, has_header): (Box<dyn Write>, usize, bool) = match (&a.out, a.resume) {
        (None, true) => return Err(miette!("--resume continues the file of --out; give --out")),
        (Some(_), true) if a.format != SweepFormat::Csv => {
            return Err(miette!("--resume continues a CSV output; use --format csv"))
        }
        (None, false) => (stdout, range.start, false),
        (Some(p), false) => {
            (Box::new(open_stream("--out", p, &inputs, false).map_err(miette::Report::new)?), range.start, false)
        }
        (Some(p), true) => {
            let text = if p.exists() {
                crate::bounded_read::read_text(p, crate::bounded_read::MAX_TEXT_BYTES)
                    .into_diagnostic()
                    .wrap_err_with(|| format!("--resume: cannot read {}", p.display()))?
            } else {
                String::new()
            };
            let at = resume_at(p, &text, &header(&spec), range.start)?;
            let f = open_stream("--out", p, &inputs, true).map_err(miette::Report::new)?;
            f.set_len(at.keep_bytes).into_diagnostic().wrap_err_with(|| format!("cannot truncate {}", p.display()))?;
            eprintln!("resuming at point {} of {}..{}", at.next_point, range.start, range.end);
            (Box::new(f), at.next_point, at.has_header)
        }
    };
    start = start.min(range.end);
    let mut rows = match a.format {
        SweepFormat::Csv => match Rows::csv(&spec, std::io::BufWriter::new(out), has_header) {
            Err(e) if e.is_closed_pipe() => return Ok(()),
            r => r?,
        },
        SweepFormat::Json => Rows::json(std::io::BufWriter::new(out)),
    };
    let bar = super::progress::bar((range.end - start) as u64, "{bar:40} {pos}/{len} points, {per_sec}, eta {eta}");
    let tick = || bar.inc(1);
    let (models, hw) = used_by_range(&spec, start..range.end);
    let mut sweeper = Sweeper::new(&spec, &models, &hw);
    let batch = pool.current_num_threads().max(1).saturating_mul(POINTS_PER_THREAD);
    let (mut done, mut failed, mut listed) = (0usize, 0usize, Vec::new());
    for first in (start..range.end).step_by(batch) {
        let points: Vec<_> = (first..range.end.min(first.saturating_add(batch))).map(|i| spec.point(i)).collect();
        let results = pool.install(|| sweeper.run(&points, &tick));
        if !written(rows.write(&spec, &results))? {
            bar.finish_and_clear();
            return Ok(());
        }
        done += results.len();
        for r in results.iter().filter(|r| r.error.is_some()) {
            failed += 1;
            if listed.len() < LISTED_FAILURES {
                listed.push(failure_line(&spec, r));
            }
        }
        if !progress(done, range.end - start) {
            bar.finish_and_clear();
            return Err(miette!("the sweep was stopped after {done} of {} points", range.end - start));
        }
    }
    written(rows.finish())?;
    bar.finish_and_clear();
    if spec.functional.is_some() {
        eprintln!("functional evaluations: {} for {} design points", sweeper.functional_evals(), done);
    }
    if failed > 0 {
        eprintln!("{failed} of {done} design points failed:");
        for l in &listed {
            eprintln!("{l}");
        }
        if failed > listed.len() {
            eprintln!("  ... and {} more (see the error column)", failed - listed.len());
        }
    }
    if done > 0 && failed == done {
        return Err(miette!("no design point succeeded ({failed} failed, see above)"));
    }
    Ok(())
}

/// `Ok(false)` when the reader of the output went away (`accelsim sweep | head`): the sweep
/// stops quietly, as every command does on a closed pipe.
fn written(r: std::result::Result<(), StreamError>) -> Result<bool> {
    match r {
        Err(e) if e.is_closed_pipe() => Ok(false),
        r => r.map(|()| true).map_err(miette::Report::new),
    }
}

fn failure_line(spec: &SweepSpec, r: &crate::sweep::PointResult) -> String {
    let p = &r.point;
    let sets: String = spec.overrides(p).iter().map(|(k, v)| format!(", {k}={v}")).collect();
    let widths = match &r.own_widths {
        Some(_) => "own widths".to_string(),
        None => format!("w{} a{}", p.wbits, p.abits),
    };
    format!("  point {}: {} / {}, {}{}: {}", p.index, r.hw, r.model, widths, sets, r.error.as_deref().unwrap_or(""))
}

/// The files a sweep reads, which its output must not replace.
fn sweep_inputs<'a>(a: &'a SweepArgs, spec: &'a SweepSpec) -> Vec<Input<'a>> {
    let mut v: Vec<Input> = spec.hw.iter().map(|h| Input::spec("--hw", h)).collect();
    v.extend(spec.models.iter().map(|m| Input::spec("--model", m)));
    v.extend(a.config.as_deref().map(|p| Input::new("--config", p)));
    if let Some(f) = &spec.functional {
        v.extend(f.calib.as_deref().map(|p| Input::spec("--calib", p)));
        v.extend(f.eval.as_deref().map(|p| Input::spec("--eval", p)));
        v.extend(f.labels.as_deref().map(|p| Input::spec("--labels", p)));
    }
    v
}

/// `accelsim merge`.
pub fn merge(a: &MergeArgs) -> Result<()> {
    let inputs = a
        .inputs
        .iter()
        .map(|p| {
            crate::bounded_read::read_text(p, crate::bounded_read::MAX_TEXT_BYTES)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot read {}", p.display()))
                .map(|t| (p.display().to_string(), t))
        })
        .collect::<Result<Vec<_>>>()?;
    let text = merge_csv(&inputs).map_err(|e| miette!("{e}"))?;
    let inputs: Vec<Input> = a.inputs.iter().map(|p| Input::new("shard", p)).collect();
    emit(a.out.as_deref(), &text, &inputs)
}
