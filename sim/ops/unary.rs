//! The element-wise unary family: activation functions as layers of their own (LOGISTIC,
//! TANH, HARD_SWISH, LEAKY_RELU, standalone RELU / RELU6 / RELU_N1_TO_1, ONNX's HardSigmoid,
//! which TFLite has no operator for), NEG (LiteRT's int8 kernel) and the float
//! functions SQRT, RSQRT and LOG of normalization layers (float only here: LiteRT's
//! integer RSQRT, SQRT and LOG kernels are not reproduced yet, so quantization keeps them in
//! float behind a DEQUANTIZE), SQUARE (float only in LiteRT too), and the transformer
//! activations GELU (exact and tanh forms) and SiLU (float only for now: their integer
//! kernels are a later issue-19 slice).
//!
//! Each kind is one row of [`TABLE`]: its name, the float function (LiteRT's reference
//! float kernel), the vector cost per element, the quantization rule and the integer
//! kernel's preparation (`kernels::activation`). Adding a kind is a row, a variant of
//! [`UnaryKind`], its TFLite code in `import/tflite/ops/unary.rs` and a case in
//! `tests/op_conformance.rs`.

use std::mem::discriminant;

use super::work::Phase;
use super::{
    int_input, same_moments, vector_phase, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule,
    WeightLayout, WorkbookRow, NO_WORKBOOK_ROW,
};
use crate::ir::{Activation, DataType, UnaryKind};
use crate::kernels::activation::{
    self, HardSwishParams, Int16Sigmoid, LeakyReluParams, Lut, NegParams, RescaleClamp, RsqrtParams,
};
use crate::kernels::{elementwise, qrange, scale_zp, Arithmetic, QuantMultiplier, Values};
use crate::quant::data_free::clipped_normal;
use crate::units::Macs;

/// One element-wise unary kind.
pub struct UnaryRow {
    /// The kind (parameters, such as LEAKY_RELU's alpha, are placeholders here).
    pub kind: UnaryKind,
    /// Name in reports and model files.
    pub name: &'static str,
    /// The float function (LiteRT's reference float kernel).
    pub float: fn(&UnaryKind, f32) -> f32,
    /// Vector-unit operations per element (a table lookup or a compare-and-select is one;
    /// HARD_SWISH's add, clamp and two multiplies four).
    pub ops_per_element: u64,
    /// How the output is quantized, from the input and output widths.
    pub quant: fn(u8, u8) -> QuantRule,
    /// The integer kernel's parameters.
    pub prepare: fn(&UnaryKind, &LayerCx) -> Result<UnaryParams, String>,
    /// Data-free calibration: the output's (mean, variance) per channel from the input's,
    /// or `None` when they say nothing of it (never passed through).
    pub moments: Option<fn(&UnaryKind, (f64, f64)) -> (f64, f64)>,
    /// Whether NVDLA's SDP runs it on the fly behind a convolution (`map::fusion`).
    pub on_the_fly: OnTheFly,
    /// What it is in NVDLA's performance workbook (`simulate::nvdla_estimator`).
    pub workbook: WorkbookRow<'static>,
}

/// The element-wise unary kinds.
pub const TABLE: &[UnaryRow] = &[
    UnaryRow {
        kind: UnaryKind::Logistic,
        name: "logistic",
        float: |_, x| logistic(x),
        ops_per_element: 1,
        quant: |i, o| sigmoid_rule(i, o, fixed_logistic(o)),
        prepare: |_, cx| prepare_sigmoid(cx, logistic, false),
        moments: None,
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::Tanh,
        name: "tanh",
        float: |_, x| x.tanh(),
        ops_per_element: 1,
        quant: |i, o| sigmoid_rule(i, o, fixed_tanh(o)),
        prepare: |_, cx| prepare_sigmoid(cx, f32::tanh, true),
        moments: None,
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::HardSwish,
        name: "hard_swish",
        float: |_, x| x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
        ops_per_element: 4,
        quant: QuantRule::free_up_to_8_bits,
        prepare: |_, cx| {
            let (x, out) = (cx.x(), cx.out());
            Ok(UnaryParams::HardSwish(HardSwishParams::new(scale_zp(x), scale_zp(out), act_range(cx))?))
        },
        moments: None,
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::LeakyRelu { alpha: 0.0 },
        name: "leaky_relu",
        float: |k, x| if x > 0.0 { x } else { x * alpha_of(k) },
        ops_per_element: 2,
        quant: |_, _| QuantRule::Free,
        prepare: |k, cx| {
            let (x, out) = (cx.x(), cx.out());
            Ok(UnaryParams::LeakyRelu(LeakyReluParams::new(scale_zp(x), scale_zp(out), alpha_of(k), act_range(cx))))
        },
        moments: None,
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::Relu,
        name: "relu",
        float: |_, x| x.max(0.0),
        ops_per_element: 1,
        quant: |_, _| QuantRule::Free,
        prepare: |_, cx| prepare_clamp(cx, Activation::Relu),
        moments: Some(|_, m| clamped(Activation::Relu, m)),
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::Relu6,
        name: "relu6",
        float: |_, x| x.clamp(0.0, 6.0),
        ops_per_element: 1,
        quant: |_, _| QuantRule::Free,
        prepare: |_, cx| prepare_clamp(cx, Activation::Relu6),
        moments: Some(|_, m| clamped(Activation::Relu6, m)),
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::ReluN1To1,
        name: "relu_n1_to_1",
        float: |_, x| x.clamp(-1.0, 1.0),
        ops_per_element: 1,
        quant: |_, _| QuantRule::Free,
        prepare: |_, cx| prepare_clamp(cx, Activation::ReluN1To1),
        moments: Some(|_, m| clamped(Activation::ReluN1To1, m)),
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::Sqrt,
        name: "sqrt",
        float: |_, x| x.sqrt(),
        ops_per_element: 1,
        quant: |_, _| QuantRule::FloatOnly,
        prepare: |_, _| Err(float_only("SQRT")),
        moments: None,
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::Rsqrt,
        name: "rsqrt",
        float: |_, x| 1.0 / x.sqrt(),
        ops_per_element: 1,
        // Post-training quantization keeps it float: LiteRT's int8 kernel (below, for
        // imported int8 models) fails on any input below the zero point.
        quant: |_, _| QuantRule::FloatOnly,
        prepare: |_, cx| {
            let (x, out) = (cx.x(), cx.out());
            if x.dtype != DataType::int(8) || out.dtype != DataType::int(8) {
                return Err("RSQRT has an integer kernel for int8 only (LiteRT's)".into());
            }
            Ok(UnaryParams::Rsqrt(RsqrtParams::new(scale_zp(x), scale_zp(out))))
        },
        moments: None,
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::Log,
        name: "log",
        float: |_, x| x.ln(),
        ops_per_element: 1,
        quant: |_, _| QuantRule::FloatOnly,
        prepare: |_, _| Err(float_only("LOG")),
        moments: None,
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::Neg,
        name: "neg",
        float: |_, x| -x,
        ops_per_element: 1,
        quant: QuantRule::free_up_to_8_bits,
        prepare: |_, cx| {
            let (x, out) = (cx.x(), cx.out());
            Ok(UnaryParams::Neg(NegParams::new(scale_zp(x), scale_zp(out), act_range(cx))))
        },
        moments: Some(|_, (mu, v)| (-mu, v)),
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::Square,
        name: "square",
        float: |_, x| x * x,
        ops_per_element: 1,
        quant: |_, _| QuantRule::FloatOnly,
        prepare: |_, _| Err("SQUARE runs in float32 only (LiteRT has no integer SQUARE kernel)".into()),
        moments: None,
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::HardSigmoid { alpha: 0.0, beta: 0.0 },
        name: "hard_sigmoid",
        float: |k, x| {
            let (alpha, beta) = hard_sigmoid_of(k);
            hard_sigmoid(alpha, beta, x)
        },
        // A multiply-add and a clamp.
        ops_per_element: 2,
        quant: |i, o| {
            if i <= MAX_QDQ_LUT_BITS && o <= MAX_QDQ_LUT_BITS {
                QuantRule::Free
            } else {
                QuantRule::FloatOnly
            }
        },
        prepare: |k, cx| {
            let (alpha, beta) = hard_sigmoid_of(k);
            prepare_qdq_lut(cx, move |x| hard_sigmoid(alpha, beta, x))
        },
        moments: Some(|k, (mu, v)| {
            let (a, b) = hard_sigmoid_of(k);
            let (a, b) = (a as f64, b as f64);
            clipped_normal(a * mu + b, a * a * v, 0.0, 1.0)
        }),
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::Gelu,
        name: "gelu",
        float: |_, x| gelu(x),
        // A table lookup (or erf polynomial) and a multiply.
        ops_per_element: 2,
        // LiteRT's int8 / uint8 kernel is a table over the input's values (any output scale).
        quant: QuantRule::free_up_to_8_bits,
        prepare: |_, cx| prepare_gelu(cx, litert_gelu),
        moments: None,
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::GeluTanh,
        name: "gelu_tanh",
        float: |_, x| gelu_tanh(x),
        ops_per_element: 2,
        // LiteRT's int8 / uint8 kernel is a table over the input's values (any output scale).
        quant: QuantRule::free_up_to_8_bits,
        prepare: |_, cx| prepare_gelu(cx, litert_gelu_tanh),
        moments: None,
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    UnaryRow {
        kind: UnaryKind::Silu,
        name: "silu",
        float: |_, x| x * logistic(x),
        // A logistic lookup and a multiply.
        ops_per_element: 2,
        quant: |_, _| QuantRule::FloatOnly,
        prepare: |_, _| Err(transformer_float_only("SILU")),
        moments: None,
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
];

/// Why an integer GELU / SiLU does not execute (issue 19: the integer transformer
/// kernels are a later slice).
fn transformer_float_only(op: &str) -> String {
    format!("{op} runs in float32 only (its integer kernel is not implemented yet)")
}

/// GELU, exact: `x * (1 + erf(x / sqrt 2)) / 2`, evaluated in double.
pub fn gelu(x: f32) -> f32 {
    let x = f64::from(x);
    (0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))) as f32
}

/// GELU, tanh approximation: `x * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2`, in double.
pub fn gelu_tanh(x: f32) -> f32 {
    let x = f64::from(x);
    let c = (2.0 / std::f64::consts::PI).sqrt();
    (0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())) as f32
}

/// LiteRT's GELU in float32 (`gelu.cc`, the function its int8 table is made from):
/// `0.5 x erfc(-x / sqrt 2)`.
fn litert_gelu(x: f32) -> f32 {
    0.5 * x * libm::erfcf(x * -std::f32::consts::FRAC_1_SQRT_2)
}

/// LiteRT's tanh-approximated GELU in float32: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715
/// x^3)))`, with `sqrt(2/pi)` rounded to float once and the cube taken left to right.
fn litert_gelu_tanh(x: f32) -> f32 {
    let sqrt_2_over_pi = (std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2) as f32;
    0.5 * x * (1.0 + libm::tanhf(sqrt_2_over_pi * (x + 0.044715 * x * x * x)))
}

/// LiteRT's int8 GELU: `LUTPopulate` over the input type's values with the float32
/// function `f` ([`Lut::from_float`]: rounded half away from zero, clamped).
fn prepare_gelu(cx: &LayerCx, f: fn(f32) -> f32) -> Result<UnaryParams, String> {
    let (x, out) = (cx.x(), cx.out());
    match (x.dtype.bits(), out.dtype.bits()) {
        (i, o) if i <= MAX_LUT_BITS as u32 && o <= MAX_LUT_BITS as u32 => {
            Ok(UnaryParams::Lut(Lut::from_float(f, scale_zp(x), scale_zp(out), qrange(x.dtype), act_range(cx))))
        }
        (i, o) => Err(format!(
            "no integer kernel for {i}-bit inputs and {o}-bit outputs (LiteRT's GELU is a table up to 8 bits)"
        )),
    }
}

/// Why an imported integer SQRT / RSQRT / LOG does not execute.
fn float_only(op: &str) -> String {
    format!("{op} runs in float32 only (LiteRT has no integer {op} kernel)")
}

/// The table row of a kind.
pub fn row(kind: UnaryKind) -> &'static UnaryRow {
    TABLE
        .iter()
        .find(|r| discriminant(&r.kind) == discriminant(&kind))
        .expect("every UnaryKind has a row in ops::unary::TABLE")
}

/// The row with this name (as model files write it).
pub fn by_name(name: &str) -> Option<&'static UnaryRow> {
    TABLE.iter().find(|r| r.name == name)
}

fn alpha_of(k: &UnaryKind) -> f32 {
    k.parameters().0.unwrap_or(0.0)
}

/// The moments of a Gaussian clamped to an activation's range, as a fused activation's.
fn clamped(act: Activation, (mu, v): (f64, f64)) -> (f64, f64) {
    let (lo, hi) = act.range();
    clipped_normal(mu, v, lo as f64, hi as f64)
}

/// HARD_SIGMOID's slope and offset (zeros for other kinds, whose rows never ask).
fn hard_sigmoid_of(k: &UnaryKind) -> (f32, f32) {
    // Only HARD_SIGMOID's row asks; `UnaryKind::parameters` is the one list of who has what.
    let (alpha, beta) = k.parameters();
    (alpha.unwrap_or(0.0), beta.unwrap_or(0.0))
}

/// ONNX HardSigmoid as onnxruntime computes it in float32: `alpha * x + beta` (a product
/// and a sum, not a fused multiply-add), clamped to [0, 1].
pub fn hard_sigmoid(alpha: f32, beta: f32, x: f32) -> f32 {
    (alpha * x + beta).clamp(0.0, 1.0)
}

/// LiteRT's reference float LOGISTIC: exactly 1 above 16.619047, `exp(x)` below -9.
pub fn logistic(x: f32) -> f32 {
    const UPPER: f32 = 16.619_047;
    const LOWER: f32 = -9.0;
    if x > UPPER {
        1.0
    } else if x < LOWER {
        x.exp()
    } else {
        1.0 / (1.0 + (-x).exp())
    }
}

/// LiteRT's fixed LOGISTIC output at `bits`: up to 8 bits scale `2^-bits` and zero point
/// `-2^(bits-1)` (int8: 1/256, -128); at 16 bits `2^-15`, zero point 0.
pub fn fixed_logistic(bits: u8) -> (f32, i32) {
    if bits == 16 {
        (1.0 / 32768.0, 0)
    } else {
        (1.0 / (1u64 << bits) as f32, -(1i32 << (bits - 1)))
    }
}

/// LiteRT's fixed TANH output at `bits`: scale `2^-(bits-1)`, zero point 0 (int8: 1/128,
/// int16: 1/32768).
pub fn fixed_tanh(bits: u8) -> (f32, i32) {
    (1.0 / (1u64 << (bits - 1)) as f32, 0)
}

/// The widest inputs a lookup table is built for.
const MAX_LUT_BITS: u8 = 8;

/// LOGISTIC and TANH: a table up to 8 bits, LiteRT's interpolated table at 16 bits, float
/// at other widths.
fn sigmoid_rule(input_bits: u8, output_bits: u8, (scale, zero_point): (f32, i32)) -> QuantRule {
    let lut = input_bits <= MAX_LUT_BITS && output_bits <= MAX_LUT_BITS;
    if lut || (input_bits == 16 && output_bits == 16) {
        QuantRule::Fixed { scale, zero_point }
    } else {
        QuantRule::FloatOnly
    }
}

/// The output clamp: the type's range narrowed by the layer's fused activation.
fn act_range(cx: &LayerCx) -> (i32, i32) {
    let out = cx.out();
    let (qmin, qmax) = qrange(out.dtype);
    let (so, zo) = scale_zp(out);
    elementwise::activation_range(cx.l.activation, so, zo, qmin, qmax)
}

/// LOGISTIC / TANH: a table over the input's values up to 8 bits; LiteRT's 16-bit kernel
/// (whose output is fixed at 2^-15, zero point 0, with no fused activation).
fn prepare_sigmoid(cx: &LayerCx, f: fn(f32) -> f32, tanh: bool) -> Result<UnaryParams, String> {
    let (x, out) = (cx.x(), cx.out());
    let ((si, zi), (so, zo)) = (scale_zp(x), scale_zp(out));
    match (x.dtype.bits(), out.dtype.bits()) {
        (i, o) if i <= MAX_LUT_BITS as u32 && o <= MAX_LUT_BITS as u32 => {
            Ok(UnaryParams::Lut(Lut::from_float(f, (si, zi), (so, zo), qrange(x.dtype), act_range(cx))))
        }
        (16, 16) if (so, zo) == (1.0 / 32768.0, 0) && cx.l.activation == Activation::None => {
            Ok(UnaryParams::Int16Sigmoid(Int16Sigmoid::new(si, zi, tanh)))
        }
        (16, 16) => Err(format!(
            "the 16-bit kernel writes scale 1/32768, zero point 0 with no fused activation; the output has {so}, {zo}"
        )),
        (i, o) => Err(format!("no integer kernel for {i}-bit inputs and {o}-bit outputs (8 or 16 bits)")),
    }
}

/// The widest inputs and outputs a table with ONNX QDQ arithmetic is built for (65536
/// entries at 16 bits).
const MAX_QDQ_LUT_BITS: u8 = 16;

/// A table over the input's values with ONNX QDQ arithmetic (ops LiteRT has no integer
/// kernel for, so the exact QDQ reference is the definition), up to 16 bits.
fn prepare_qdq_lut(cx: &LayerCx, f: impl Fn(f32) -> f32) -> Result<UnaryParams, String> {
    let (x, out) = (cx.x(), cx.out());
    let (i, o) = (x.dtype.bits(), out.dtype.bits());
    if i > MAX_QDQ_LUT_BITS as u32 || o > MAX_QDQ_LUT_BITS as u32 {
        return Err(format!("no integer kernel for {i}-bit inputs and {o}-bit outputs (up to 16 bits)"));
    }
    Ok(UnaryParams::Lut(Lut::from_float_qdq(f, scale_zp(x), scale_zp(out), qrange(x.dtype), act_range(cx))))
}

/// `ReluX`: the activation's range on the output (TFLite rounds `bound / scale` in float).
fn prepare_clamp(cx: &LayerCx, act: Activation) -> Result<UnaryParams, String> {
    let (x, out) = (cx.x(), cx.out());
    let ((si, zi), (so, zo)) = (scale_zp(x), scale_zp(out));
    let (lo, hi) = act_range(cx);
    let (alo, ahi) = elementwise::activation_range(act, so, zo, lo, hi);
    Ok(UnaryParams::Clamp(RescaleClamp {
        zp_in: zi,
        m: QuantMultiplier::from_real((si / so) as f64),
        zp_out: zo,
        range: (alo.max(lo), ahi.min(hi)),
    }))
}

/// The integer parameters of one unary kind.
pub enum UnaryParams {
    /// A lookup table over every input value (LOGISTIC, TANH up to 8 bits; HARD_SIGMOID up
    /// to 16).
    Lut(Lut),
    /// LiteRT's 16-bit LOGISTIC / TANH.
    Int16Sigmoid(Int16Sigmoid),
    /// Rescale and clamp (RELU, RELU6, RELU_N1_TO_1).
    Clamp(RescaleClamp),
    /// LEAKY_RELU.
    LeakyRelu(LeakyReluParams),
    /// HARD_SWISH.
    HardSwish(HardSwishParams),
    /// NEG.
    Neg(NegParams),
    /// RSQRT (int8).
    Rsqrt(RsqrtParams),
}

/// A prepared integer unary layer.
pub struct IntUnary(UnaryParams);

impl IntUnary {
    pub(super) fn run(&self, inputs: &[&Values]) -> Result<Vec<Values>, String> {
        let x = int_input(inputs, 0)?;
        let x = &*x;
        Ok(vec![Values::Int(match &self.0 {
            UnaryParams::Lut(t) => t.apply(x),
            UnaryParams::Int16Sigmoid(p) => activation::int16_sigmoid(p, x),
            UnaryParams::Clamp(p) => activation::rescale_clamp(p, x),
            UnaryParams::LeakyRelu(p) => activation::leaky_relu(p, x),
            UnaryParams::HardSwish(p) => activation::hard_swish(p, x),
            UnaryParams::Neg(p) => activation::neg(p, x),
            UnaryParams::Rsqrt(p) => activation::rsqrt(p, x)?,
        })])
    }
}

impl OpFamily for UnaryKind {
    fn name(&self) -> &'static str {
        row(*self).name
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        Ok(vec![cx.x().shape.clone()])
    }

    fn macs(&self, _cx: &LayerCx) -> Macs {
        Macs::ZERO
    }

    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let per = row(*self).ops_per_element;
        vec![vector_phase(cx, false, |_, o| o.saturating_mul(per))]
    }

    fn quant_rule(&self, input_bits: u8, output_bits: u8) -> QuantRule {
        (row(*self).quant)(input_bits, output_bits)
    }

    /// TFLite's activation operators carry no fused activation of their own.
    fn dequantizes(&self) -> bool {
        false
    }

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::None
    }

    fn fused_activation(&self) -> bool {
        false
    }

    fn on_the_fly(&self, _cx: &LayerCx) -> OnTheFly {
        row(*self).on_the_fly
    }

    fn workbook_row(&self, _cx: &LayerCx) -> WorkbookRow<'_> {
        row(*self).workbook
    }

    /// The output's batch follows from the inputs'.
    fn set_batch(&mut self, _n: usize) {}

    fn eval_float(&self, _cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let x = inputs.first().ok_or("missing input")?;
        let f = row(*self).float;
        Ok(vec![x.iter().map(|&v| f(self, v)).collect()])
    }

    fn prepare_int(&self, cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        Ok(IntKernel::Unary(IntUnary((row(*self).prepare)(self, cx)?)))
    }

    /// The row's `moments` per channel (a clamp of a Gaussian with the input's moments for
    /// the clamps, after its affine map for HARD_SIGMOID, -x for NEG); unknown for the others
    /// (their outputs are not propagated rather than guessed).
    fn data_free(&self, _cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        let f = row(*self).moments?;
        let mut r = same_moments(inputs, false)?;
        for (mu, v) in r.moments.mean.iter_mut().zip(r.moments.var.iter_mut()) {
            (*mu, *v) = f(self, (*mu, *v));
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_row() {
        let kinds = [
            UnaryKind::Logistic,
            UnaryKind::Tanh,
            UnaryKind::HardSwish,
            UnaryKind::LeakyRelu { alpha: 0.2 },
            UnaryKind::Relu,
            UnaryKind::Relu6,
            UnaryKind::ReluN1To1,
            UnaryKind::Sqrt,
            UnaryKind::Rsqrt,
            UnaryKind::Log,
            UnaryKind::HardSigmoid { alpha: 0.2, beta: 0.5 },
            UnaryKind::Neg,
            UnaryKind::Square,
            UnaryKind::Gelu,
            UnaryKind::GeluTanh,
            UnaryKind::Silu,
        ];
        for k in kinds {
            assert_eq!(TABLE.iter().filter(|r| discriminant(&r.kind) == discriminant(&k)).count(), 1);
        }
        assert_eq!(kinds.len(), TABLE.len());
    }

    #[test]
    fn float_functions() {
        assert_eq!((row(UnaryKind::LeakyRelu { alpha: 0.2 }).float)(&UnaryKind::LeakyRelu { alpha: 0.2 }, -1.0), -0.2);
        assert_eq!(logistic(0.0), 0.5);
        assert_eq!(logistic(20.0), 1.0);
        assert_eq!(fixed_logistic(8), (1.0 / 256.0, -128));
        assert_eq!(fixed_tanh(8), (1.0 / 128.0, 0));
    }

    /// Hand-computed values: erf(1/sqrt 2) = 0.682689492 (the one-sigma mass), so
    /// GELU(1) = 0.841344746 and GELU(-1) = -0.158655254; the tanh form at 1:
    /// sqrt(2/pi) * 1.044715 = 0.833554, tanh = 0.682384, so 0.841192; SiLU(1) =
    /// 1 / (1 + e^-1) = 0.731058579, SiLU(-2) = -2 / (1 + e^2) = -0.238405844.
    #[test]
    fn transformer_activations_hand_values() {
        let close = |a: f32, b: f32| assert!((a - b).abs() < 2e-6, "{a} vs {b}");
        let f = |k: UnaryKind, x: f32| (row(k).float)(&k, x);
        close(f(UnaryKind::Gelu, 1.0), 0.841_344_75);
        close(f(UnaryKind::Gelu, -1.0), -0.158_655_25);
        close(f(UnaryKind::Gelu, 0.0), 0.0);
        close(f(UnaryKind::GeluTanh, 1.0), 0.841_192);
        close(f(UnaryKind::Silu, 1.0), 0.731_058_6);
        close(f(UnaryKind::Silu, -2.0), -0.238_405_84);
        // The two GELU forms agree to about 1e-3 over [-4, 4] (the approximation's error).
        for i in -40..=40 {
            let x = i as f32 / 10.0;
            assert!((gelu(x) - gelu_tanh(x)).abs() < 1e-3, "{x}");
        }
    }
}
