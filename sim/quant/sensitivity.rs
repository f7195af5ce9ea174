//! Per-layer sensitivity to bit width (`accelsim sensitivity`): for each layer with weights
//! and each width, the network is quantized with only that layer at that width and every
//! other layer at a reference width, and scored against the float model: output SQNR,
//! top-1 agreement, accuracy against labels, and the layer's own output SQNR.
//!
//! The reference is a width, not float: the executor runs integer graphs (a float layer
//! between integer ones would be a simulated quantizer, not the bit-exact kernels), so
//! "everything else float" is approximated by everything else at `reference` bits. The CLI
//! defaults to 8: the uniform baseline a mixed-precision choice departs from, and the
//! widths the fast integer kernels take (operands of at most 8 bits; a 16-bit reference is
//! closer to float but runs every layer on the scalar reference kernels, which made
//! MobileNet-v1's sweep take over ten minutes instead of a few). A row is exactly what
//! `accelsim quantize --wbits R --abits R --layer-bits NAME=wBaB` (or `wB`, `aB` for weights
//! or activations alone) reports for the same images (tested), and a layer at the
//! reference width gives the reference's figures.
//!
//! Cost: one calibration and one float run of the evaluation set for all points (the float
//! outputs and the swept layers' float outputs are kept, [`FloatRuns`]); per point, one
//! quantization and one integer run per image, from the layer where the point's graph
//! first differs from the reference's: the reference's integer runs are kept (up to
//! [`PREFIX_BYTES`]) and the layers before that are not recomputed (with `weights`, every
//! layer before the one tested), which gives the same integers. Points run in parallel (rayon), as do the
//! images of a point; results come in layer-then-width order whatever the thread count.

use rayon::prelude::*;

use super::calib::Calibration;
use super::eval::{EvalReport, FloatRuns, LabelScores};
use super::ptq::{quantize_graph, PtqConfig};
use super::widths::{LayerRequest, LayerWidths, WidthPlan};
use super::Precision;
use crate::ir::{Graph, LayerId, TensorId};
use crate::kernels::{Arithmetic, ExecError};

/// The most memory the reference's integer runs may take to be kept as every point's
/// prefix (all tensors of every evaluation image, 4 bytes a value): MobileNet-v1 takes
/// about 17 MB an image.
pub const PREFIX_BYTES: u64 = 1 << 30;

/// Which operand of the layer takes the swept width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// The layer's weights (its activations stay at the reference width).
    Weights,
    /// The activations the layer reads (its input tensor; see [`WidthPlan`] for tensors
    /// several layers read, which keep the widest width asked).
    Activations,
    /// Both.
    Both,
}

impl What {
    /// The name used on the command line and in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            What::Weights => "weights",
            What::Activations => "activations",
            What::Both => "both",
        }
    }
}

/// What to sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SensitivityConfig {
    /// The width of every layer not under test.
    pub reference: Precision,
    /// The widths each layer is tried at.
    pub bits: Vec<u8>,
    /// Which operand takes them.
    pub what: What,
    /// The quantizer's options; its `widths` are replaced per point.
    pub ptq: PtqConfig,
}

/// One layer at one width.
#[derive(Debug, Clone, PartialEq)]
pub struct SensitivityRow {
    /// Index of the layer in the float graph.
    pub layer_index: usize,
    /// Layer name.
    pub layer: String,
    /// Operator name.
    pub op: String,
    /// The width tried.
    pub bits: u8,
    /// The layer's planned widths at this point (e.g. `w4a16`).
    pub widths: LayerWidths,
    /// The network at this point.
    pub eval: Summary,
    /// SQNR (dB) of the layer's own output against the float model's (`None` when its
    /// output is not an integer tensor).
    pub layer_sqnr_db: Option<f64>,
}

/// The network-level figures of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Output SQNR (dB) against the float model.
    pub output_sqnr_db: f64,
    /// Fraction of inputs whose arg-max agrees with the float model's.
    pub top1_agreement: f64,
    /// Accuracy against the labels, when given.
    pub accuracy: Option<LabelScores>,
}

impl Summary {
    fn of(r: &EvalReport) -> Summary {
        Summary { output_sqnr_db: r.output_sqnr_db, top1_agreement: r.top1_agreement, accuracy: r.accuracy }
    }
}

/// The whole sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Sensitivity {
    /// Every layer under test at the reference width.
    pub reference: Summary,
    /// The float model's accuracy against the labels, when given.
    pub float_accuracy: Option<LabelScores>,
    /// Per layer (graph order), per width (as given).
    pub rows: Vec<SensitivityRow>,
}

/// Why a sensitivity sweep failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SensitivityError {
    /// The float model has no layer with weights.
    #[error("{0}: no layer with weights to test")]
    NoLayers(String),
    /// Quantizing a point failed.
    #[error("layer '{layer}' at {bits} bits: quantization failed: {message}")]
    Quantize {
        /// The layer.
        layer: String,
        /// The width.
        bits: u8,
        /// Why.
        message: String,
    },
    /// A run failed.
    #[error("{0}")]
    Exec(#[from] ExecError),
}

/// The layers tested: those with weights (conv, depthwise, FC), in graph order.
pub fn tested_layers(g: &Graph) -> Vec<LayerId> {
    g.layers.iter().enumerate().filter(|(_, l)| g.weights_of(l).is_some()).map(|(i, _)| LayerId(i)).collect()
}

/// The width plan of one point: `reference` everywhere, `bits` on `layer`'s operand(s).
pub fn plan_of(g: &Graph, cfg: &SensitivityConfig, layer: LayerId, bits: u8) -> Result<WidthPlan, SensitivityError> {
    let request = LayerRequest {
        source: "sensitivity".into(),
        layer: g.layers[layer.0].name.clone(),
        weight: matches!(cfg.what, What::Weights | What::Both).then_some(bits),
        activation: matches!(cfg.what, What::Activations | What::Both).then_some(bits),
        group: None,
    };
    WidthPlan::resolve(g, cfg.reference, std::slice::from_ref(&request)).map_err(|e| SensitivityError::Quantize {
        layer: request.layer.clone(),
        bits,
        message: e.to_string(),
    })
}

/// Runs the sweep on `float` with statistics `cal`, scoring on `inputs` (and `labels`).
pub fn sensitivity(
    float: &Graph,
    cal: &Calibration,
    inputs: &[Vec<f32>],
    labels: Option<&[usize]>,
    cfg: &SensitivityConfig,
) -> Result<Sensitivity, SensitivityError> {
    let layers = tested_layers(float);
    if layers.is_empty() {
        return Err(SensitivityError::NoLayers(float.name.clone()));
    }
    let keep: Vec<TensorId> = layers.iter().map(|l| float.layers[l.0].outputs[0]).collect();
    let runs = FloatRuns::new(float, inputs, labels, &keep)?;
    let quantize = |plan: WidthPlan, layer: &str, bits: u8| {
        quantize_graph(float, cal, &PtqConfig { widths: plan, ..cfg.ptq.clone() })
            .map_err(|e| SensitivityError::Quantize { layer: layer.to_string(), bits, message: e.to_string() })
    };
    let reference_bits = cfg.reference.weight_bits.max(cfg.reference.activation_bits);
    let q = quantize(WidthPlan::uniform(float, cfg.reference), "(all)", reference_bits)?;
    let reference = Summary::of(&runs.evaluate(&q, Arithmetic::default(), &[])?);
    // The reference's integer runs, kept when they fit PREFIX_BYTES: each point starts
    // from them at its first layer that differs from the reference.
    let bytes = crate::kernels::value_bytes(&q).and_then(|b| b.checked_mul(inputs.len() as u64));
    let prefix_runs = if bytes.is_some_and(|b| b <= PREFIX_BYTES) {
        Some(runs.integer_runs(&q, Arithmetic::default())?)
    } else {
        None
    };
    let prefix = prefix_runs.as_deref().map(|r| (&q, r));
    let points: Vec<(LayerId, u8)> = layers.iter().flat_map(|&l| cfg.bits.iter().map(move |&b| (l, b))).collect();
    let rows = points
        .par_iter()
        .map(|&(l, bits)| {
            let layer = &float.layers[l.0];
            let plan = plan_of(float, cfg, l, bits)?;
            let widths = plan.layer(l);
            let q = quantize(plan, &layer.name, bits)?;
            let r = runs.evaluate_after(&q, Arithmetic::default(), &[layer.name.as_str()], prefix)?;
            Ok(SensitivityRow {
                layer_index: l.0,
                layer: layer.name.clone(),
                op: float.op_name(layer).to_string(),
                bits,
                widths,
                eval: Summary::of(&r),
                layer_sqnr_db: r.layers.first().map(|x| x.sqnr_db),
            })
        })
        .collect::<Result<Vec<_>, SensitivityError>>()?;
    Ok(Sensitivity { reference, float_accuracy: runs.float_accuracy(), rows })
}
