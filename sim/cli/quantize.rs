//! `accelsim quantize`: post-training quantization of a float model (TFLite, ONNX, or a
//! built-in network with seeded synthetic weights) into an `.aqm` integer model (any widths)
//! or a `.tflite` one (int8 and 16x8, [`crate::export::tflite`]) or an `.onnx` one (QDQ form,
//! 8- or 16-bit activations and weights of up to 8 bits, per layer; [`crate::export::onnx`]),
//! chosen by the extension of
//! `--out`, with an optional accuracy report against the float model on an evaluation set
//! (and against its class labels, `--labels`).

use std::path::{Path, PathBuf};

use miette::{miette, IntoDiagnostic, Result, WrapErr};

use super::output::{write_output, Input};
use crate::import::npy::read_npy_f32;
use crate::import::{aqm, load_model, LoadOptions};
use crate::ir::{Graph, TensorData, TensorKind, WeightSource};
use crate::quant::clip::ClipMethod;
use crate::quant::eval::{check_labels, classes, evaluate, EvalReport, LabelScores};
use crate::quant::ptq::{quantize_graph, PtqConfig};
use crate::quant::{
    adaround, calib, check_width, cle, data_free, synthetic, trained, trained_act, Precision, WidthPlan,
};

/// Weight scale granularity.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    /// One scale per output channel.
    PerChannel,
    /// One scale per tensor.
    PerTensor,
}

/// Weight quantizer scheme (activations are always asymmetric).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Zero point 0, narrow range.
    Symmetric,
    /// A zero point per scale.
    Asymmetric,
}

/// Threshold method.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Full observed range.
    Minmax,
    /// `--percentile` of the values.
    Percentile,
    /// MSE-optimal clipping.
    Mse,
    /// Thresholds trained with a straight-through estimator, starting from MSE, on the
    /// calibration data: weights per channel (or per layer) to reconstruct each layer's float
    /// output (`quant/trained.rs`); activations per tensor to reconstruct the float outputs
    /// of the conv / FC layers reading them (`quant/trained_act.rs`). Needs --calib,
    /// `quantize` only.
    Trained,
}

/// The threshold methods of weights and activations: `--method` sets both, and
/// `--weight-method` / `--act-method` override one (e.g. MSE for activations and min/max
/// with bias correction for 4-bit weights).
#[derive(clap::Args, Debug, Clone)]
pub struct Methods {
    /// Threshold method for weights and activations.
    #[arg(long, value_enum, default_value_t = Method::Minmax)]
    pub method: Method,
    /// Threshold method for weights (default: --method).
    #[arg(long, value_enum)]
    pub weight_method: Option<Method>,
    /// Threshold method for activations (default: --method).
    #[arg(long, value_enum)]
    pub act_method: Option<Method>,
    /// Percentile of the `percentile` method, 90-100: the range keeps this share of the
    /// values on each side (of |w| for symmetric weights).
    #[arg(long, default_value_t = 99.99)]
    pub percentile: f64,
}

/// The percentiles `--percentile` takes.
pub const PERCENTILES: std::ops::RangeInclusive<f64> = 90.0..=100.0;

impl Methods {
    /// The weights' method.
    pub fn weights(&self) -> Method {
        self.weight_method.unwrap_or(self.method)
    }

    /// The activations' method.
    pub fn activations(&self) -> Method {
        self.act_method.unwrap_or(self.method)
    }

    /// The (weight, activation) clipping methods, the percentile checked when one uses it.
    pub fn resolve(&self) -> Result<(ClipMethod, ClipMethod)> {
        let one = |m: Method| match m {
            Method::Minmax => Ok(ClipMethod::MinMax),
            Method::Percentile if PERCENTILES.contains(&self.percentile) => Ok(ClipMethod::Percentile(self.percentile)),
            Method::Percentile => Err(miette!(
                "--percentile must be in {}..={}, got {}: it is the share of values the range keeps on each \
                 side, so below 90 more than a tenth of every tensor saturates (at 50 the range shrinks to \
                 the median and the model outputs noise); 99-99.999 are the usual choices",
                PERCENTILES.start(),
                PERCENTILES.end(),
                self.percentile
            )),
            Method::Mse => Ok(ClipMethod::Mse),
            // Training starts from the MSE thresholds (`quant::trained`).
            Method::Trained => Ok(ClipMethod::Mse),
        };
        Ok((one(self.weights())?, one(self.activations())?))
    }

    /// Whether the activations' thresholds are trained after quantization.
    pub fn trained_activations(&self) -> bool {
        self.activations() == Method::Trained
    }

    /// Whether the weights' thresholds are trained after quantization.
    pub fn trained_weights(&self) -> bool {
        self.weights() == Method::Trained
    }

    /// How a report names them: `minmax`, or `w:minmax a:mse` when they differ.
    pub fn label(&self) -> String {
        let name = |m: Method| format!("{m:?}").to_lowercase();
        if self.weights() == self.activations() {
            name(self.weights())
        } else {
            format!("w:{} a:{}", name(self.weights()), name(self.activations()))
        }
    }
}

/// How weights are rounded to their integers.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// To the nearest integer.
    Nearest,
    /// Up or down, learned per weight to reconstruct each layer's float output on the
    /// calibration data (AdaRound, `quant/adaround.rs`); with --data-free, on the input
    /// patches' statistics propagated from the weights.
    Learned,
}

/// What `--cle` does with ReLU6 activations (see `quant::cle`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CleRelu6 {
    /// `keep` with `--data-free`, `replace` with calibration data (the better of the two in
    /// `reports/quant_sqnr.md`'s measurements on MobileNet-v1).
    Auto,
    /// Replace ReLU6 by ReLU and equalize fully (Nagel et al.).
    Replace,
    /// Keep ReLU6 exact: no scaling of channels that can reach 6, others only up to 6.
    Keep,
}

/// Output format of the report.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// Human-readable lines.
    Table,
    /// One JSON document.
    Json,
}

/// Arguments of `accelsim quantize`.
#[derive(clap::Args, Debug)]
pub struct QuantizeArgs {
    /// Float model: `.tflite`, `.onnx`, or a built-in network name (synthetic weights).
    #[arg(long)]
    pub model: String,
    /// Weight bits (2-16).
    #[arg(long, default_value_t = 8, allow_negative_numbers = true)]
    pub wbits: i64,
    /// Activation bits (2-16).
    #[arg(long, default_value_t = 8, allow_negative_numbers = true)]
    pub abits: i64,
    /// Per-layer widths: `NAME=w4a8` (repeatable; `NAME=w4` or `NAME=a6` set one width; a
    /// suffix `g32` sets the layer's weight groups, `g-1` per channel) or a TOML file of them (`[layers]` table, see `quant/layer_bits.rs`); the other layers take
    /// --wbits/--abits. The `.aqm` keeps each layer's widths.
    #[arg(long = "layer-bits", value_name = "NAME=wWaA|FILE.toml")]
    pub layer_bits: Vec<String>,
    /// Weight scale granularity.
    #[arg(long, value_enum, default_value_t = Granularity::PerChannel)]
    pub granularity: Granularity,
    /// Weight scheme.
    #[arg(long, value_enum, default_value_t = Scheme::Symmetric)]
    pub scheme: Scheme,
    /// Group-wise weights for fully connected layers: one fp16 scale per this many
    /// consecutive weights of each output's reduction (`--wbits 4 --wgroup 32`: W4 g32), and
    /// with `--scheme asymmetric` one zero point per group. Convolutions keep --granularity
    /// (their integer kernels take per-channel scales). The `.aqm` keeps the groups; `.tflite`
    /// and `.onnx` outputs have no form for them.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub wgroup: Option<i64>,
    /// Calibration images, float32 `.npy` `[N, H, W, C]` (NCHW is transposed when it fits).
    #[arg(long)]
    pub calib: Option<PathBuf>,
    /// Threshold methods.
    #[command(flatten)]
    pub methods: Methods,
    /// Weight rounding.
    #[arg(long, value_enum, default_value_t = Rounding::Nearest)]
    pub rounding: Rounding,
    /// Adam steps per output channel of `--rounding learned`.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rounding_iterations: u32,
    /// Cross-layer equalization (Nagel et al. 2019).
    #[arg(long)]
    pub cle: bool,
    /// What `--cle` does with ReLU6 activations.
    #[arg(long, value_enum, default_value_t = CleRelu6::Auto)]
    pub cle_relu6: CleRelu6,
    /// Bias correction (empirical with `--calib`, analytic with `--data-free`).
    #[arg(long)]
    pub bias_correction: bool,
    /// No calibration data: statistics propagated from the weights.
    #[arg(long)]
    pub data_free: bool,
    /// Dynamic-range quantization, as LiteRT's converter without calibration data: fully
    /// connected weights at --wbits (at most 8; per channel, symmetric), each such layer
    /// quantizing its float input token by token (per-row int8 scale and zero point) when it
    /// runs; everything else stays float. Needs no --calib.
    #[arg(long)]
    pub dynamic: bool,
    /// Seed of the synthetic weights of built-in networks.
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
    /// Shape of an ONNX input with dynamic dimensions, in the model's order
    /// (`NAME=1x3x224x224`); repeat for several inputs.
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    pub input_shapes: Vec<crate::import::InputShape>,
    /// Output model: `.aqm` (any widths), `.tflite` (w8a8 = int8, w8a16 = 16x8) or `.onnx`
    /// (QDQ form: activations of 8 or 16 bits, weights of up to 8, per layer).
    #[arg(long)]
    pub out: PathBuf,
    /// Quantize under LiteRT's constraints (symmetric 16-bit activations, CONCATENATION
    /// inputs sharing the output's parameters); implied by `--out X.tflite`, and gives the
    /// same model as `.aqm`.
    #[arg(long)]
    pub litert: bool,
    /// Evaluation images (`.npy`), for an accuracy report against the float model.
    #[arg(long)]
    pub eval: Option<PathBuf>,
    /// Class labels of the --eval images (integer `.npy`, one per image): adds the top-1
    /// accuracy (and top-5 with more than 5 classes) of the float and quantized models.
    #[arg(long, requires = "eval")]
    pub labels: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// The file format of `--out`, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutFormat {
    /// accelsim's quantized-model JSON (`sim/import/aqm.rs`), any widths.
    Aqm,
    /// A TFLite flatbuffer (int8 or 16x8), see `sim/export/tflite.rs`.
    Tflite,
    /// An ONNX model in QDQ form, see `sim/export/onnx.rs`.
    Onnx,
}

impl OutFormat {
    fn of(out: &Path) -> Result<Self> {
        match out.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
            Some("aqm") => Ok(OutFormat::Aqm),
            Some("tflite") => Ok(OutFormat::Tflite),
            Some("onnx") => Ok(OutFormat::Onnx),
            _ => Err(miette!(
                "--out must end in .aqm (accelsim's quantized-model format, any widths), .tflite \
                 (int8 and 16x8) or .onnx (QDQ, 8- or 16-bit activations), got {}",
                out.display()
            )),
        }
    }
}

/// TFLite holds what LiteRT has kernels for: int8 weights with int8 or int16 activations,
/// one width for every layer, symmetric weights.
/// The weight granularity as the summary line says it: `per-channel`, `per-tensor`, or
/// `g32 fp16 scales (fully connected), per-channel elsewhere` (`g32/g128` when layers ask
/// for their own group sizes).
fn granularity_label(g: &Graph, cfg: &PtqConfig) -> String {
    let rest = if cfg.per_channel { "per-channel" } else { "per-tensor" };
    let sizes = fc_group_sizes(g, cfg);
    if sizes.is_empty() {
        return rest.to_string();
    }
    let sizes = sizes.iter().map(|n| format!("g{n}")).collect::<Vec<_>>().join("/");
    format!("{sizes} fp16 scales (fully connected), {rest} elsewhere")
}

/// The distinct group sizes the plan gives the fully connected layers of `g` (the layers
/// `quantize` writes group-wise), smallest first.
fn fc_group_sizes(g: &Graph, cfg: &PtqConfig) -> std::collections::BTreeSet<u32> {
    g.layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.op.weight_layout().group_kernel())
        .filter_map(|(i, _)| cfg.widths.weight_groups_of(crate::ir::LayerId(i)).map(|w| w.size))
        .collect()
}

fn check_tflite_config(cfg: &PtqConfig) -> Result<()> {
    let Some((w, a)) = cfg.widths.uniform_widths() else {
        return Err(miette!(
            "--out *.tflite takes one width for every layer (w8a8 or w8a16), got per-layer widths {}; \
             write per-layer widths to a .aqm file",
            cfg.widths.summary()
        ));
    };
    let w = w.unwrap_or(8);
    if w != 8 || (a != 8 && a != 16) {
        return Err(miette!(
            "--out *.tflite takes --wbits 8 with --abits 8 (int8) or 16 (16x8), got --wbits {w} --abits {a}; \
             write other widths to a .aqm file"
        ));
    }
    if !cfg.symmetric_weights {
        return Err(miette!(
            "--out *.tflite needs --scheme symmetric: LiteRT's int8 kernels take weights with zero point 0"
        ));
    }
    Ok(())
}

/// ONNX's QDQ form holds what onnxruntime's QuantizeLinear / DequantizeLinear take: 8- or
/// 16-bit activations and weights of up to 8 bits (held in int8), per layer; checked before
/// the work so that a long calibration does not end in a refusal.
fn check_onnx_config(g: &Graph, cfg: &PtqConfig) -> Result<()> {
    for (i, l) in g.layers.iter().enumerate() {
        let lw = cfg.widths.layer(crate::ir::LayerId(i));
        if lw.activation != 8 && lw.activation != 16 {
            return Err(miette!(
                "--out *.onnx takes 8- or 16-bit activations (onnxruntime's QDQ types), layer '{}' has {}-bit \
                 activations; write other widths to a .aqm file",
                l.name,
                lw.activation
            ));
        }
        if let Some(w) = lw.weight.filter(|&w| w > 8) {
            return Err(miette!(
                "--out *.onnx takes weights of up to 8 bits, layer '{}' has {w}-bit weights; write other widths to a .aqm file",
                l.name
            ));
        }
    }
    Ok(())
}

pub(crate) fn load_images(path: &Path, shape: &[usize]) -> Result<Vec<Vec<f32>>> {
    let a = read_npy_f32(path).map_err(miette::Report::new)?;
    if a.shape().first().is_none_or(|&n| n == 0) {
        return Err(miette!("{}: no images", path.display()));
    }
    crate::kernels::io::images(a.view(), shape).ok_or_else(|| {
        miette!("{}: images of shape {:?} do not fit the model input {:?}", path.display(), a.shape(), shape)
    })
}

/// Reads `--labels` and checks them against the `inputs` evaluation images of `eval` and
/// the model's `classes`; errors name both files.
pub(crate) fn load_labels(path: &Path, eval: &Path, inputs: usize, classes: usize) -> Result<Vec<usize>> {
    let y = crate::import::npy::read_npy_labels(path).map_err(miette::Report::new)?;
    check_labels(&y, inputs, classes)
        .map_err(|e| miette!("--labels {}: {e} (--eval {})", path.display(), eval.display()))?;
    Ok(y)
}

/// The JSON of label scores: `top1_accuracy` and, with more than 5 classes, `top5_accuracy`.
pub(crate) fn scores_json(s: &LabelScores) -> serde_json::Value {
    let mut v = serde_json::json!({ "top1_accuracy": s.top1 });
    if let Some(t5) = s.top5 {
        v["top5_accuracy"] = serde_json::json!(t5);
    }
    v
}

/// The text of label scores: `top-1 accuracy 0.973` and `, top-5 0.998` when there is one.
pub(crate) fn scores_text(s: &LabelScores) -> String {
    match s.top5 {
        Some(t5) => format!("top-1 accuracy {:.4}, top-5 accuracy {t5:.4}", s.top1),
        None => format!("top-1 accuracy {:.4}", s.top1),
    }
}

fn report_json(
    args: &QuantizeArgs,
    g: &Graph,
    cfg: &PtqConfig,
    (pairs, relu6): (usize, cle::Relu6),
    act_training: Option<serde_json::Value>,
    r: Option<&EvalReport>,
) -> String {
    let num = |x: f64| if x.is_finite() { serde_json::json!(x) } else { serde_json::json!("inf") };
    let mut v = serde_json::json!({
        "model": args.model,
        "network": g.name,
        "out": args.out.display().to_string(),
        "config": {
            "wbits": args.wbits, "abits": args.abits, "widths": cfg.widths.summary(),
            "granularity": if cfg.per_channel { "per-channel" } else { "per-tensor" },
            "weight_group": cfg.widths.weight_groups().map(|w| w.size),
            "weight_group_sizes": fc_group_sizes(g, cfg),
            "dynamic": args.dynamic,
            "scheme": if cfg.symmetric_weights { "symmetric" } else { "asymmetric" },
            "method": format!("{:?}", args.methods.method).to_lowercase(),
            "weight_method": format!("{:?}", args.methods.weights()).to_lowercase(),
            "act_method": format!("{:?}", args.methods.activations()).to_lowercase(),
            "rounding": format!("{:?}", args.rounding).to_lowercase(),
            "cle": args.cle, "cle_pairs": pairs, "cle_relu6": format!("{relu6:?}").to_lowercase(), "bias_correction": args.bias_correction, "data_free": args.data_free,
            "act_training": act_training,
        },
    });
    if let Some(r) = r {
        v["output"] = serde_json::json!({
            "sqnr_db": num(r.output_sqnr_db), "top1_agreement": r.top1_agreement, "inputs": r.inputs,
        });
        if let (Some(q), Some(f)) = (&r.accuracy, &r.float_accuracy) {
            for (k, x) in scores_json(q).as_object().into_iter().flatten() {
                v["output"][k] = x.clone();
            }
            v["float"] = scores_json(f);
            v["labels"] = serde_json::json!(args.labels.as_ref().map(|p| p.display().to_string()));
        }
        v["layers"] =
            r.layers.iter().map(|l| serde_json::json!({ "name": l.layer, "sqnr_db": num(l.sqnr_db) })).collect();
    }
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

/// Runs `accelsim quantize`.
pub fn quantize(args: &QuantizeArgs) -> Result<()> {
    let text = quantize_report(args)?;
    crate::cli::run::emit(None, &text, &[])
}

/// Quantizes as `accelsim quantize` does, writes `--out`, and returns the report the command
/// prints (in `args.format`).
pub fn quantize_report(args: &QuantizeArgs) -> Result<String> {
    let default = Precision {
        weight_bits: check_width("--wbits", args.wbits).into_diagnostic()?,
        activation_bits: check_width("--abits", args.abits).into_diagnostic()?,
    };
    let requests = crate::cli::run::layer_requests(&args.layer_bits)?;
    let format = OutFormat::of(&args.out)?;
    if args.calib.is_some() && args.data_free {
        return Err(miette!("--calib and --data-free exclude each other"));
    }
    if args.dynamic {
        let conflicts = [
            (args.calib.is_some(), "--calib"),
            (args.data_free, "--data-free"),
            (args.wgroup.is_some(), "--wgroup"),
            (!args.layer_bits.is_empty(), "--layer-bits"),
            (args.cle, "--cle"),
            (args.bias_correction, "--bias-correction"),
            (args.rounding != Rounding::Nearest, "--rounding"),
            (args.methods.trained_weights() || args.methods.trained_activations(), "trained thresholds"),
            (args.granularity != Granularity::PerChannel, "--granularity"),
            (args.scheme != Scheme::Symmetric, "--scheme"),
        ];
        if let Some((_, what)) = conflicts.iter().find(|c| c.0) {
            return Err(miette!(
                "--dynamic quantizes fully connected weights per channel, symmetric, with no calibration (the \
                 activations are quantized token by token when the model runs); {what} does not apply"
            ));
        }
        if format != OutFormat::Aqm {
            return Err(miette!(
                "--dynamic: write the hybrid model to a .aqm file (the .tflite and .onnx writers take integer or QDQ \
                 graphs, not hybrid ones)"
            ));
        }
        if default.weight_bits > crate::quant::dynamic::MAX_BITS {
            return Err(miette!(
                "--dynamic: --wbits {} is wider than the hybrid kernel's int8 weights (2..=8)",
                default.weight_bits
            ));
        }
    }
    if args.data_free && args.methods.trained_activations() {
        return Err(miette!(
            "--act-method trained reconstructs the outputs of the layers reading each activation on \
             calibration inputs, and --data-free has none: give --calib FILE.npy, or another --act-method"
        ));
    }
    let opts = LoadOptions { seed: args.seed, input_shapes: args.input_shapes.clone(), ..Default::default() };
    let mut g = load_model(&args.model, &opts).map_err(miette::Report::new).wrap_err("cannot load the network")?;
    let (weight_method, act_method) = args.methods.resolve()?;
    let groups = match args.wgroup {
        Some(n) => Some(crate::quant::weight_groups("--wgroup", n, 0).map_err(|e| miette!("{e}"))?),
        None => None,
    };
    let widths = WidthPlan::resolve(&g, default, &requests).into_diagnostic()?.with_weight_groups(groups);
    // The integer group-wise kernel is the fully connected one (`kernels/fc.rs`): a layer
    // asking for groups by name must be one (`--wgroup` leaves the others per channel).
    for r in requests.iter().filter(|r| matches!(r.group, Some(crate::quant::GroupRequest::Size(_)))) {
        if let Some(l) = g.layers.iter().find(|l| l.name == r.layer) {
            if !l.op.weight_layout().group_kernel() {
                return Err(miette!(
                    "{}: layer '{}' ({}): accelsim quantize writes group-wise weights for fully connected layers only \
                     (the integer group-wise kernel, kernels/fc.rs); `accelsim run --layer-bits` costs groups on any \
                     matrix product",
                    r.source,
                    l.name,
                    g.op_name(l)
                ));
            }
        }
    }
    let cfg = PtqConfig {
        widths,
        per_channel: args.granularity == Granularity::PerChannel,
        symmetric_weights: args.scheme == Scheme::Symmetric,
        weight_method,
        act_method,
        bias_correction: args.bias_correction,
        litert: args.litert,
    };
    if (args.wgroup.is_some() || !fc_group_sizes(&g, &cfg).is_empty()) && format != OutFormat::Aqm {
        return Err(miette!(
            "{}: group-wise weight scales have no form in a .{} file (its quantization is per tensor or \
             per channel); write them to a .aqm file",
            if args.wgroup.is_some() { "--wgroup" } else { "--layer-bits" },
            if format == OutFormat::Tflite { "tflite" } else { "onnx" }
        ));
    }
    let cfg = PtqConfig { litert: cfg.litert || format == OutFormat::Tflite, ..cfg };
    match format {
        OutFormat::Tflite => check_tflite_config(&cfg)?,
        OutFormat::Onnx => check_onnx_config(&g, &cfg)?,
        OutFormat::Aqm => {}
    }
    if cfg.litert && cfg.widths.uniform_widths().is_none() {
        return Err(miette!(
            "--litert takes one width for every layer (LiteRT's kernels), got per-layer widths {}",
            cfg.widths.summary()
        ));
    }
    crate::kernels::check_size(&g).map_err(|e| miette!("{}: {e}", args.model))?;
    let synthetic_weights = matches!(g.weights, WeightSource::Synthetic { .. });
    if synthetic_weights {
        synthetic::materialize(&mut g, args.seed);
    }
    if g.tensors.iter().any(|t| t.kind == TensorKind::Weight && !matches!(t.data, Some(TensorData::F32(_)))) {
        return Err(miette!("{}: quantize takes a float model; its weights are not float32", args.model));
    }
    crate::quant::check_finite_weights(&g).map_err(|e| miette!("{}: {e}", args.model))?;
    let [input] = g.inputs[..] else {
        return Err(miette!("{}: quantize takes models with one input, this one has {}", args.model, g.inputs.len()));
    };
    let in_shape = g.tensor(input).shape.clone();
    let mut reference = g.clone();
    let relu6 = match args.cle_relu6 {
        CleRelu6::Auto if args.data_free => cle::Relu6::Keep,
        CleRelu6::Auto | CleRelu6::Replace => cle::Relu6::Replace,
        CleRelu6::Keep => cle::Relu6::Keep,
    };
    let pairs = if args.cle { cle::equalize_with(&mut reference, 50, relu6) } else { 0 };
    let (cal, calib_inputs) = if args.dynamic {
        (crate::quant::calib::Calibration { tensors: Vec::new() }, Vec::new())
    } else if args.data_free {
        (data_free::statistics(&reference), Vec::new())
    } else {
        let inputs = match &args.calib {
            Some(p) => load_images(p, &in_shape)?,
            None if synthetic_weights => synthetic::uniform_inputs(8, g.tensor(input).elements() as usize, args.seed),
            None => return Err(miette!("quantize needs --calib FILE.npy or --data-free")),
        };
        (calib::calibrate(&reference, &inputs).into_diagnostic().wrap_err("calibration run failed")?, inputs)
    };
    let mut q = if args.dynamic {
        let (q, n) = crate::quant::dynamic::quantize_dynamic(&reference, default.weight_bits, weight_method)
            .into_diagnostic()?;
        eprintln!(
            "note: --dynamic: {n} layers hybrid (fully connected layers and convolutions: int{} weights, float inputs \
             quantized token by token or image by image when they run); every other layer float",
            default.weight_bits
        );
        q
    } else {
        quantize_graph(&reference, &cal, &cfg).into_diagnostic()?
    };
    let trained = args.methods.trained_weights();
    if trained || args.rounding == Rounding::Learned {
        // Data-free: the patches' expected Gram matrices under the propagated moments.
        let grams = if args.data_free {
            adaround::layer_grams_data_free(&reference, &data_free::tensor_moments(&reference))
        } else {
            adaround::layer_grams(&reference, &calib_inputs)
                .into_diagnostic()
                .wrap_err("calibration run for learned rounding / trained thresholds failed")?
        };
        let means = |t: usize| cal.tensors.get(t).cloned().flatten().map(|s| s.channel_mean);
        let means = args.bias_correction.then_some(&means as _);
        let layers = grams.iter().flatten().count() as u64;
        if trained {
            let bar =
                super::progress::bar(layers, "{bar:40} {pos}/{len} layers' thresholds trained ({msg}), eta {eta}");
            let opt = trained::Options::default();
            trained::apply(&reference, &mut q, &grams, means, &opt, &mut |name| {
                bar.set_message(name.to_string());
                bar.inc(1)
            })
            .into_diagnostic()?;
            bar.finish_and_clear();
        }
        if args.rounding == Rounding::Learned {
            let opt = adaround::Options { iterations: args.rounding_iterations as usize, ..Default::default() };
            let bar = super::progress::bar(layers, "{bar:40} {pos}/{len} layers rounded ({msg}), eta {eta}");
            adaround::apply(&reference, &mut q, &grams, means, &opt, &mut |name| {
                bar.set_message(name.to_string());
                bar.inc(1)
            });
            bar.finish_and_clear();
        }
        q.validate().into_diagnostic().wrap_err("the graph with learned rounding / trained thresholds is not valid")?;
    }
    // Activation thresholds after the weight methods (each moves the readers' biases to the
    // scales it changes, so the order is free), judged on the network they end in.
    let act_training = if args.methods.trained_activations() {
        let bar = super::progress::bar(0, "{spinner} activation thresholds trained: {pos} ({msg})");
        let summary = trained_act::apply(&reference, &mut q, &calib_inputs, cfg.litert, &Default::default(), &|n| {
            bar.set_message(n.to_string());
            bar.inc(1)
        })
        .into_diagnostic()
        .wrap_err("calibration run for trained activation thresholds failed")?;
        bar.finish_and_clear();
        q.validate().into_diagnostic().wrap_err("the graph with trained activation thresholds is not valid")?;
        let (before, after) = summary.calib_sqnr_db;
        eprintln!(
            "note: trained activation thresholds: {} of {} tensors trained on their readers kept (each kept only \
             if the network's output SQNR on the calibration inputs rose: {before:.2} -> {after:.2} dB); {} \
             untrained (read by layers other than conv / FC, or sharing their parameters)",
            summary.accepted.len(),
            summary.proposed,
            summary.untrained
        );
        Some(serde_json::json!({
            "proposed": summary.proposed, "kept": summary.accepted.len(),
            "calib_sqnr_db": { "start": before, "trained": after },
        }))
    } else {
        None
    };
    for n in cfg.widths.widened(&g) {
        eprintln!("note: {n}");
    }
    let bytes = match format {
        OutFormat::Aqm => aqm::to_bytes(&q),
        OutFormat::Tflite => crate::export::tflite::to_tflite(&q)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write {} as TFLite", args.out.display()))?,
        OutFormat::Onnx => crate::export::onnx::to_onnx(&q)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write {} as ONNX", args.out.display()))?,
    };
    let report = match &args.eval {
        Some(p) => {
            let inputs = load_images(p, &in_shape)?;
            let labels = match &args.labels {
                Some(y) => Some(load_labels(y, p, inputs.len(), classes(&g))?),
                None => None,
            };
            Some(
                evaluate(&g, &reference, &q, &inputs, labels.as_deref())
                    .into_diagnostic()
                    .wrap_err("evaluation failed")?,
            )
        }
        None => None,
    };
    // Written only once everything succeeded, so a failed evaluation leaves no output.
    let mut inputs = vec![Input::spec("--model", &args.model)];
    inputs.extend(args.calib.as_deref().map(|p| Input::new("--calib", p)));
    inputs.extend(args.eval.as_deref().map(|p| Input::new("--eval", p)));
    inputs.extend(args.labels.as_deref().map(|p| Input::new("--labels", p)));
    write_output("--out", &args.out, &bytes, &inputs).map_err(miette::Report::new)?;
    let text = match args.format {
        ReportFormat::Json => report_json(args, &g, &cfg, (pairs, relu6), act_training, report.as_ref()),
        ReportFormat::Table => {
            let mut s = format!(
                "{} -> {} ({} {} {}{}{}{})\n",
                args.model,
                args.out.display(),
                if args.dynamic {
                    format!("w{} dynamic-range: hybrid fully connected and convolution layers, per-token / per-image int8 inputs", args.wbits)
                } else {
                    cfg.widths.summary()
                },
                granularity_label(&g, &cfg),
                args.methods.label(),
                if args.cle { format!(" cle({pairs} pairs, relu6 {relu6:?})").to_lowercase() } else { String::new() },
                if args.bias_correction { " bias-correction" } else { "" },
                if args.data_free { " data-free" } else { "" },
            );
            if let Some(r) = &report {
                s += &format!(
                    "output SQNR {:.2} dB, top-1 agreement {:.3} over {} inputs\n",
                    r.output_sqnr_db, r.top1_agreement, r.inputs
                );
                if let (Some(q), Some(f)) = (&r.accuracy, &r.float_accuracy) {
                    s += &format!("quantized {}; float {}\n", scores_text(q), scores_text(f));
                }
                for l in &r.layers {
                    s += &format!("  {:<50} {:>8.2} dB\n", l.layer, l.sqnr_db);
                }
            }
            s
        }
    };
    Ok(text)
}
