//! `accelsim search`: per-layer widths searched against the accelerator's own cost (see
//! [`crate::search`]): a CSV row per verified point (uniform widths and mixed ones), the
//! front marked, and optionally the chosen point's model written.

use std::path::PathBuf;
use std::time::Instant;

use miette::{miette, IntoDiagnostic, Result, WrapErr};

use super::output::{write_output, Input};
use super::quantize::{load_images, load_labels};
use crate::import::{aqm, load_model, LoadOptions};
use crate::ir::{LayerId, TensorData, TensorKind, WeightSource};
use crate::map::tiling::Objective;
use crate::quant::eval::classes;
use crate::quant::ptq::{quantize_graph, PtqConfig};
use crate::quant::{calib, check_width, synthetic, Precision, WidthPlan};
use crate::search::{front, search, SearchConfig, SearchPoint};

/// Arguments of `accelsim search`.
#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// Accelerator: a preset name or a TOML description.
    #[arg(long)]
    pub hw: String,
    /// Float model: `.tflite`, `.onnx`, or a built-in network name (synthetic weights).
    #[arg(long)]
    pub model: String,
    /// Calibration images, float32 `.npy`.
    #[arg(long)]
    pub calib: PathBuf,
    /// Evaluation images (`.npy`): every reported point is scored bit-exactly on them.
    #[arg(long)]
    pub eval: PathBuf,
    /// Class labels of the --eval images: the front is cost vs top-1 accuracy (else vs
    /// the logits' SQNR against the float model: the input of a final softmax, else the
    /// output; column `logits_sqnr_db`).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Weight widths a layer may take, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [2, 3, 4, 8], allow_negative_numbers = true)]
    pub wbits: Vec<i64>,
    /// Activation widths a layer may take, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [8], allow_negative_numbers = true)]
    pub abits: Vec<i64>,
    /// Accumulator widths (`--set accumulator_bits=` each): one search per width, one front.
    #[arg(long, value_delimiter = ',')]
    pub accumulator_bits: Vec<u32>,
    /// The width pair every layer starts from and sensitivities are measured against.
    #[arg(long, default_value = "w8a8")]
    pub reference: String,
    /// What the cost is.
    #[arg(long, default_value = "energy", value_parser = Objective::NAMES)]
    pub objective: String,
    /// The chosen point's constraint: `top1>=X` (needs --labels) or `sqnr>=X` (dB, the logits').
    #[arg(long)]
    pub constraint: Option<String>,
    /// Mixed points verified per accumulator width (besides the uniform ones).
    #[arg(long, default_value_t = 12)]
    pub max_verified: usize,
    /// Description overrides, as in `run`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Seed of the synthetic weights of built-in networks.
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
    /// The front CSV (standard output without).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the chosen point's model here: `.aqm`, or `.tflite` (every layer int8 or 16x8).
    #[arg(long)]
    pub export: Option<PathBuf>,
}

/// A `--constraint`: the metric and its minimum.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Constraint {
    Top1(f64),
    Sqnr(f64),
}

fn parse_constraint(s: &str) -> Result<Constraint> {
    let bad = || miette!("--constraint must be 'top1>=X' (0..=1) or 'sqnr>=X' (dB), got '{s}'");
    let (name, value) = s.split_once(">=").ok_or_else(bad)?;
    let v: f64 = value.trim().parse().map_err(|_| bad())?;
    match name.trim() {
        "top1" if (0.0..=1.0).contains(&v) => Ok(Constraint::Top1(v)),
        "sqnr" if v.is_finite() => Ok(Constraint::Sqnr(v)),
        _ => Err(bad()),
    }
}

fn meets(c: Option<Constraint>, p: &SearchPoint) -> bool {
    match c {
        None => true,
        Some(Constraint::Top1(m)) => p.accuracy.is_some_and(|a| a.top1 >= m),
        Some(Constraint::Sqnr(m)) => p.logits_sqnr_db >= m,
    }
}

/// The CSV columns, in order (`plot --kind pareto` reads `model`, `hw`, `wbits`, `abits`,
/// `layer`, `error`, `energy_pj`, `latency_s` and `sqnr_db` or an accuracy column).
pub const COLUMNS: &[&str] = &[
    "model",
    "hw",
    "point",
    "wbits",
    "abits",
    "accumulator_bits",
    "layer",
    "error",
    "energy_pj",
    "latency_s",
    "cycles",
    "sqnr_db",
    "logits_sqnr_db",
    "top1_agreement",
    "top1_accuracy",
    "top5_accuracy",
    "verified",
    "on_front",
    "meets_constraint",
    "chosen",
    "widths",
];

/// A layer list's mean width, as a label (`8` or `5.25`).
fn mean(v: &[u8]) -> String {
    let m = v.iter().map(|&b| f64::from(b)).sum::<f64>() / v.len().max(1) as f64;
    format!("{}", (m * 100.0).round() / 100.0)
}

/// Runs `accelsim search`.
pub fn run(a: &SearchArgs) -> Result<()> {
    let start = Instant::now();
    let widths = |flag: &str, v: &[i64]| -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for &b in v {
            let b = check_width(flag, b).into_diagnostic()?;
            if !out.contains(&b) {
                out.push(b);
            }
        }
        Ok(out)
    };
    let (wbits, abits) = (widths("--wbits", &a.wbits)?, widths("--abits", &a.abits)?);
    let pairs: Vec<Precision> = wbits
        .iter()
        .flat_map(|&w| abits.iter().map(move |&x| Precision { weight_bits: w, activation_bits: x }))
        .collect();
    let (rw, ra) = crate::quant::layer_bits::parse_widths(&a.reference).map_err(|e| miette!("--reference: {e}"))?;
    let (Some(rw), Some(ra)) = (rw, ra) else {
        return Err(miette!("--reference needs both widths, as w8a8, got '{}'", a.reference));
    };
    let reference = Precision { weight_bits: rw, activation_bits: ra };
    let objective = Objective::from_name(&a.objective).ok_or_else(|| miette!("unknown --objective"))?;
    let constraint = a.constraint.as_deref().map(parse_constraint).transpose()?;
    if matches!(constraint, Some(Constraint::Top1(_))) && a.labels.is_none() {
        return Err(miette!("--constraint top1>=... needs --labels"));
    }
    if a.export.is_some() && constraint.is_none() {
        return Err(miette!("--export writes the cheapest point meeting --constraint: give one"));
    }
    let overrides = crate::cli::run::parse_overrides(&a.set)?;
    let opts = LoadOptions { seed: a.seed, ..Default::default() };
    let mut g = load_model(&a.model, &opts).map_err(miette::Report::new).wrap_err("cannot load the network")?;
    crate::kernels::check_size(&g).map_err(|e| miette!("{}: {e}", a.model))?;
    if matches!(g.weights, WeightSource::Synthetic { .. }) {
        synthetic::materialize(&mut g, a.seed);
    }
    if g.tensors.iter().any(|t| t.kind == TensorKind::Weight && !matches!(t.data, Some(TensorData::F32(_)))) {
        return Err(miette!("{}: search takes a float model; its weights are not float32", a.model));
    }
    crate::quant::check_finite_weights(&g).map_err(|e| miette!("{}: {e}", a.model))?;
    let [input] = g.inputs[..] else {
        return Err(miette!("{}: search takes models with one input, this one has {}", a.model, g.inputs.len()));
    };
    let shape = g.tensor(input).shape.clone();
    let cal_in = load_images(&a.calib, &shape)?;
    let eval = load_images(&a.eval, &shape)?;
    let labels = match &a.labels {
        Some(y) => Some(load_labels(y, &a.eval, eval.len(), classes(&g))?),
        None => None,
    };
    let cal = calib::calibrate(&g, &cal_in).into_diagnostic().wrap_err("calibration run failed")?;
    // The same quantizer as `accelsim quantize`'s defaults, so an exported point is what
    // `quantize --layer-bits` writes.
    let ptq = PtqConfig::min_max(WidthPlan::uniform(&g, reference));
    let cfg = SearchConfig { pairs, reference, objective, max_verified: a.max_verified.max(2), ptq: ptq.clone() };
    let accs: Vec<Option<u32>> =
        if a.accumulator_bits.is_empty() { vec![None] } else { a.accumulator_bits.iter().map(|&b| Some(b)).collect() };
    let mut all: Vec<(String, u32, SearchPoint)> = Vec::new();
    let (mut units, mut sens, mut paths, mut costed) = (0, 0, 0, 0);
    for acc in accs {
        let mut ov = overrides.clone();
        if let Some(b) = acc {
            ov.push(("accumulator_bits".into(), crate::hw::SetValue::Num(f64::from(b))));
        }
        let hw = crate::cli::run::hw_from(&a.hw, &ov)?;
        let r = search(&g, &cal, &eval, labels.as_deref(), &hw, &cfg).into_diagnostic()?;
        units = r.units;
        sens += r.sensitivity_evals;
        paths += r.paths;
        costed += r.candidates_costed;
        all.extend(r.points.into_iter().map(|p| (hw.name.clone(), hw.accumulator.bits, p)));
    }
    let on_front = front(&all.iter().map(|(_, _, p)| (p.cost_of(objective), p.quality())).collect::<Vec<_>>());
    let chosen = all
        .iter()
        .enumerate()
        .filter(|(_, (_, _, p))| meets(constraint, p))
        .min_by(|x, y| x.1 .2.cost_of(objective).total_cmp(&y.1 .2.cost_of(objective)))
        .map(|(i, _)| i);
    let layers = crate::quant::sensitivity::tested_layers(&g);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS).into_diagnostic()?;
    for (i, (hw, acc, p)) in all.iter().enumerate() {
        let lw: Vec<_> = layers.iter().map(|&l| (l, p.plan.layer(l))).collect();
        let ws: Vec<u8> = lw.iter().filter_map(|(_, x)| x.weight).collect();
        let as_: Vec<u8> = lw.iter().map(|(_, x)| x.activation).collect();
        // Every layer's widths (`--layer-bits` flags): `quantize` with them writes this point.
        let desc = (0..g.layers.len())
            .map(|i| format!("{}={}", g.layers[i].name, p.plan.layer(LayerId(i))))
            .collect::<Vec<_>>()
            .join(" ");
        let t = &p.cost.totals;
        w.write_record([
            g.name.clone(),
            hw.clone(),
            if p.uniform.is_some() { "uniform" } else { "mixed" }.to_string(),
            mean(&ws),
            mean(&as_),
            acc.to_string(),
            "TOTAL".to_string(),
            String::new(),
            t.energy.total().get().to_string(),
            (t.latency.0 + t.overhead.0).to_string(),
            t.cycles.get().to_string(),
            p.sqnr_db.to_string(),
            p.logits_sqnr_db.to_string(),
            p.top1_agreement.to_string(),
            p.accuracy.map(|x| x.top1.to_string()).unwrap_or_default(),
            p.accuracy.and_then(|x| x.top5).map(|x| x.to_string()).unwrap_or_default(),
            "true".to_string(),
            on_front[i].to_string(),
            meets(constraint, p).to_string(),
            (chosen == Some(i)).to_string(),
            desc,
        ])
        .into_diagnostic()?;
    }
    let text = String::from_utf8_lossy(&w.into_inner().map_err(|e| miette!("{e}"))?).into_owned();
    let mut inputs = vec![
        Input::spec("--model", &a.model),
        Input::spec("--hw", &a.hw),
        Input::new("--calib", &a.calib),
        Input::new("--eval", &a.eval),
    ];
    inputs.extend(a.labels.as_deref().map(|p| Input::new("--labels", p)));
    if let Some(path) = &a.export {
        let Some(i) = chosen else {
            return Err(miette!(
                "no verified point meets {}: nothing to export",
                a.constraint.as_deref().unwrap_or("")
            ));
        };
        let q = quantize_graph(&g, &cal, &PtqConfig { widths: all[i].2.plan.clone(), ..ptq }).into_diagnostic()?;
        let bytes = match path.extension().and_then(|e| e.to_str()) {
            Some("aqm") => aqm::to_bytes(&q),
            Some("tflite") => crate::export::tflite::to_tflite(&q)
                .into_diagnostic()
                .wrap_err("the chosen point cannot be written as TFLite (every layer int8 or 16x8); use .aqm")?,
            _ => return Err(miette!("--export must end in .aqm or .tflite, got {}", path.display())),
        };
        write_output("--export", path, &bytes, &inputs).into_diagnostic()?;
    }
    crate::cli::run::emit(a.out.as_deref(), &text, &inputs)?;
    eprintln!(
        "search: {} layers with weights, {} units (weights and activation groups), {} sensitivity evaluations, {} paths, {} candidates costed, {} points verified ({} on the front) in {:.1} s",
        layers.len(),
        units,
        sens,
        paths,
        costed,
        all.len(),
        on_front.iter().filter(|&&x| x).count(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
