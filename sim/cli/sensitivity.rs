//! `accelsim sensitivity`: how much each layer suffers from a narrow width when it alone is
//! quantized to it (see [`crate::quant::sensitivity`]): a CSV row per layer with weights and
//! width, for `accelsim plot --kind sensitivity`.

use std::path::PathBuf;
use std::time::Instant;

use miette::{miette, IntoDiagnostic, Result, WrapErr};

use super::output::Input;
use super::quantize::{load_images, load_labels, Granularity, Methods};
use crate::import::{load_model, LoadOptions};
use crate::ir::{TensorData, TensorKind, WeightSource};
use crate::quant::eval::{classes, LabelScores};
use crate::quant::ptq::PtqConfig;
use crate::quant::sensitivity::{sensitivity, Sensitivity, SensitivityConfig, What};
use crate::quant::{calib, check_width, synthetic, Precision, WidthPlan};

/// Which operand of the layer under test takes the swept width.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhatArg {
    /// Its weights.
    Weights,
    /// The activations it reads.
    Activations,
    /// Both.
    Both,
}

/// Arguments of `accelsim sensitivity`.
#[derive(clap::Args, Debug)]
pub struct SensitivityArgs {
    /// Float model: `.tflite`, `.onnx`, or a built-in network name (synthetic weights).
    #[arg(long)]
    pub model: String,
    /// Calibration images, float32 `.npy` `[N, H, W, C]` (NCHW is transposed when it fits).
    #[arg(long)]
    pub calib: PathBuf,
    /// Evaluation images (`.npy`): each point is scored on them against the float model.
    #[arg(long)]
    pub eval: PathBuf,
    /// Class labels of the --eval images (integer `.npy`, one per image): adds top-1 (and
    /// top-5) accuracy columns.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// The widths each layer is tried at, comma-separated (2-16).
    #[arg(long, value_delimiter = ',', default_values_t = [2, 3, 4, 6, 8], allow_negative_numbers = true)]
    pub bits: Vec<i64>,
    /// Which operand of the layer takes the width.
    #[arg(long, value_enum, default_value_t = WhatArg::Weights)]
    pub what: WhatArg,
    /// The weight and activation width of every other layer (the integer executor runs
    /// integer graphs only, so "float elsewhere" is approximated by a width). 8 (the
    /// default) runs on the fast integer kernels and is the uniform baseline a
    /// mixed-precision choice starts from; 16 is closer to float but runs every layer on
    /// the scalar reference kernels (the fast ones take operands of 8 bits or fewer), many
    /// times slower.
    #[arg(long, default_value_t = 8, allow_negative_numbers = true)]
    pub reference_bits: i64,
    /// Weight scale granularity.
    #[arg(long, value_enum, default_value_t = Granularity::PerChannel)]
    pub granularity: Granularity,
    /// Threshold methods.
    #[command(flatten)]
    pub methods: Methods,
    /// Seed of the synthetic weights of built-in networks.
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
    /// Shape of an ONNX input with dynamic dimensions (`NAME=1x3x224x224`); repeatable.
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    pub input_shapes: Vec<crate::import::InputShape>,
    /// Write the CSV here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The CSV columns, in order.
pub const COLUMNS: &[&str] = &[
    "layer_index",
    "layer",
    "op",
    "what",
    "bits",
    "widths",
    "output_sqnr_db",
    "layer_sqnr_db",
    "top1_agreement",
    "top1_accuracy",
    "top5_accuracy",
    "reference",
    "reference_output_sqnr_db",
    "reference_top1_agreement",
    "reference_top1_accuracy",
    "float_top1_accuracy",
];

fn top1(a: Option<LabelScores>) -> String {
    a.map(|a| a.top1.to_string()).unwrap_or_default()
}

/// The CSV text of a sweep (numbers in Rust's shortest round-trip form).
pub fn to_csv(s: &Sensitivity, what: What, reference: Precision) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS).into_diagnostic()?;
    let reference_name = format!("w{}a{}", reference.weight_bits, reference.activation_bits);
    for r in &s.rows {
        w.write_record([
            r.layer_index.to_string(),
            r.layer.clone(),
            r.op.clone(),
            what.name().to_string(),
            r.bits.to_string(),
            r.widths.to_string(),
            r.eval.output_sqnr_db.to_string(),
            r.layer_sqnr_db.map(|x| x.to_string()).unwrap_or_default(),
            r.eval.top1_agreement.to_string(),
            top1(r.eval.accuracy),
            r.eval.accuracy.and_then(|a| a.top5).map(|x| x.to_string()).unwrap_or_default(),
            reference_name.clone(),
            s.reference.output_sqnr_db.to_string(),
            s.reference.top1_agreement.to_string(),
            top1(s.reference.accuracy),
            top1(s.float_accuracy),
        ])
        .into_diagnostic()?;
    }
    let bytes = w.into_inner().map_err(|e| miette!("{e}"))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Runs `accelsim sensitivity`.
pub fn run(a: &SensitivityArgs) -> Result<()> {
    let start = Instant::now();
    let mut bits = Vec::new();
    for &b in &a.bits {
        let b = check_width("--bits", b).into_diagnostic()?;
        if bits.contains(&b) {
            return Err(miette!("--bits: {b} is given twice"));
        }
        bits.push(b);
    }
    let r = check_width("--reference-bits", a.reference_bits).into_diagnostic()?;
    let reference = Precision { weight_bits: r, activation_bits: r };
    let what = match a.what {
        WhatArg::Weights => What::Weights,
        WhatArg::Activations => What::Activations,
        WhatArg::Both => What::Both,
    };
    let opts = LoadOptions { seed: a.seed, input_shapes: a.input_shapes.clone(), ..Default::default() };
    let mut g = load_model(&a.model, &opts).map_err(miette::Report::new).wrap_err("cannot load the network")?;
    crate::kernels::check_size(&g).map_err(|e| miette!("{}: {e}", a.model))?;
    if matches!(g.weights, WeightSource::Synthetic { .. }) {
        synthetic::materialize(&mut g, a.seed);
    }
    if g.tensors.iter().any(|t| t.kind == TensorKind::Weight && !matches!(t.data, Some(TensorData::F32(_)))) {
        return Err(miette!("{}: sensitivity takes a float model; its weights are not float32", a.model));
    }
    crate::quant::check_finite_weights(&g).map_err(|e| miette!("{}: {e}", a.model))?;
    let [input] = g.inputs[..] else {
        return Err(miette!("{}: sensitivity takes models with one input, this one has {}", a.model, g.inputs.len()));
    };
    let shape = g.tensor(input).shape.clone();
    let cal_in = load_images(&a.calib, &shape)?;
    let eval = load_images(&a.eval, &shape)?;
    let labels = match &a.labels {
        Some(y) => Some(load_labels(y, &a.eval, eval.len(), classes(&g))?),
        None => None,
    };
    let cal = calib::calibrate(&g, &cal_in).into_diagnostic().wrap_err("calibration run failed")?;
    if a.methods.trained_weights() || a.methods.trained_activations() {
        return Err(miette!(
            "sensitivity quantizes one layer at a time without training: use --weight-method and --act-method \
             minmax, percentile or mse (trained thresholds are a `quantize` option)"
        ));
    }
    let (weight_method, act_method) = a.methods.resolve()?;
    let cfg = SensitivityConfig {
        reference,
        bits,
        what,
        ptq: PtqConfig {
            per_channel: a.granularity == Granularity::PerChannel,
            weight_method,
            act_method,
            ..PtqConfig::min_max(WidthPlan::uniform(&g, reference))
        },
    };
    let s = sensitivity(&g, &cal, &eval, labels.as_deref(), &cfg).into_diagnostic()?;
    let text = to_csv(&s, what, reference)?;
    let mut inputs =
        vec![Input::spec("--model", &a.model), Input::new("--calib", &a.calib), Input::new("--eval", &a.eval)];
    inputs.extend(a.labels.as_deref().map(|p| Input::new("--labels", p)));
    crate::cli::run::emit(a.out.as_deref(), &text, &inputs)?;
    let acc = |x: Option<LabelScores>| x.map_or(String::new(), |x| format!(", top-1 accuracy {:.4}", x.top1));
    let float = s.float_accuracy.map_or(String::new(), |x| format!("; float top-1 accuracy {:.4}", x.top1));
    eprintln!(
        "sensitivity: {} layers x {} widths of {} ({} images) in {:.1} s; reference w{r}a{r}: output SQNR {:.2} dB{}{}",
        s.rows.len() / cfg.bits.len().max(1),
        cfg.bits.len(),
        what.name(),
        eval.len(),
        start.elapsed().as_secs_f64(),
        s.reference.output_sqnr_db,
        acc(s.reference.accuracy),
        float,
    );
    Ok(())
}
