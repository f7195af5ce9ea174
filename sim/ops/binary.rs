//! The element-wise binary family: two operands (activations or constants) of shapes that
//! broadcast (NumPy rules: shapes aligned at the last axis, a dimension of 1 stretches).
//!
//! Each kind is one row of [`TABLE`]: its names in the formats, the float function, the
//! vector cost per element, the quantization rule and its integer kernel. Broadcasting is
//! written once here, for shape inference, float and integer execution. Adding a kind
//! (MUL, SUB, ...) is a row, its integer kernel in `kernels::elementwise` with a variant of
//! [`BinaryParams`], and a case in `tests/op_conformance.rs`.

use super::work::Phase;
use super::{
    vector_phase, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule, WeightLayout, WorkbookRow,
    NO_WORKBOOK_ROW,
};
use crate::ir::{BinaryKind, DataType, Tensor};
use crate::kernels::elementwise::{self, AddParams, ExtremumParams, MulParams, PreluParams, SquaredDifferenceParams};
use crate::kernels::{
    const_f32, const_i32, qrange, scale_zp, Arithmetic, QuantMultiplier, Requant, Rounding, Values, View,
};
use crate::units::Macs;

/// Vector-unit operations of one layer: per element read (all operands) and per element
/// written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementCost {
    /// Operations per input element read.
    pub per_input: u64,
    /// Operations per output element written.
    pub per_output: u64,
}

/// One element-wise binary kind.
pub struct BinaryRow {
    /// The kind.
    pub kind: BinaryKind,
    /// Name in reports and model files.
    pub name: &'static str,
    /// What shape errors say it does ("adds").
    pub verb: &'static str,
    /// The float function.
    pub float: fn(f32, f32) -> f32,
    /// Vector cost.
    pub cost: ElementCost,
    /// How the output is quantized, at the input and output widths.
    pub quant: fn(u8, u8) -> QuantRule,
    /// Whether it carries a fused activation (TFLite's ADD, SUB, MUL, DIV do; MAXIMUM,
    /// MINIMUM do not).
    pub fused_activation: bool,
    /// Data-free calibration: the output's (mean, variance) per channel from the two
    /// operands' (independent), or `None` when they say nothing of it.
    pub moments: Option<fn((f64, f64), (f64, f64)) -> (f64, f64)>,
    /// Resolves the integer kernel's parameters from the operands' and the output's
    /// quantization.
    pub prepare: fn(&LayerCx, [&Tensor; 2]) -> Result<BinaryParams, String>,
    /// Whether NVDLA's SDP runs it on the fly behind a convolution (`map::fusion`).
    pub on_the_fly: OnTheFly,
    /// What it is in NVDLA's performance workbook (`simulate::nvdla_estimator`).
    pub workbook: WorkbookRow<'static>,
}

/// The element-wise binary kinds.
pub const TABLE: &[BinaryRow] = &[
    BinaryRow {
        kind: BinaryKind::Add,
        name: "add",
        verb: "adds",
        float: |a, b| a + b,
        cost: ElementCost { per_input: 1, per_output: 1 },
        quant: |_, _| QuantRule::Free,
        fused_activation: true,
        moments: Some(|(mx, vx), (my, vy)| (mx + my, vx + vy)),
        prepare: |cx, ab| Ok(BinaryParams::Add(add_params(cx, ab))),
        // SDP's element-wise unit (X1 / X2 in per-element mode).
        on_the_fly: OnTheFly::SdpAdd,
        workbook: WorkbookRow::ConvEltwise,
    },
    BinaryRow {
        kind: BinaryKind::Sub,
        name: "sub",
        verb: "subtracts",
        float: |a, b| a - b,
        cost: ElementCost { per_input: 1, per_output: 1 },
        quant: |_, _| QuantRule::Free,
        fused_activation: true,
        moments: Some(|(mx, vx), (my, vy)| (mx - my, vx + vy)),
        prepare: |cx, ab| Ok(BinaryParams::Sub(add_params(cx, ab))),
        // SDP's other element-wise operations are not modelled on the fly.
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    BinaryRow {
        kind: BinaryKind::Mul,
        name: "mul",
        verb: "multiplies",
        float: |a, b| a * b,
        cost: ElementCost { per_input: 0, per_output: 2 },
        quant: |_, _| QuantRule::Free,
        fused_activation: true,
        moments: Some(|(mx, vx), (my, vy)| (mx * my, vx * vy + vx * my * my + vy * mx * mx)),
        prepare: prepare_mul,
        // SDP's other element-wise operations are not modelled on the fly.
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    BinaryRow {
        kind: BinaryKind::Div,
        name: "div",
        verb: "divides",
        float: |a, b| a / b,
        // A reciprocal (a few Newton steps) and a multiply.
        cost: ElementCost { per_input: 0, per_output: 4 },
        quant: |_, _| QuantRule::FloatOnly,
        fused_activation: true,
        moments: None,
        prepare: |_, _| Err("DIV has no integer kernel (LiteRT's int8 DIV does not exist); it runs in float".into()),
        // SDP's other element-wise operations are not modelled on the fly.
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    BinaryRow {
        kind: BinaryKind::Pow,
        name: "pow",
        verb: "raises to the power",
        float: f32::powf,
        // An exp and a log (a table each) and a multiply.
        cost: ElementCost { per_input: 0, per_output: 3 },
        quant: |_, _| QuantRule::FloatOnly,
        fused_activation: false,
        moments: None,
        prepare: |_, _| Err("POW has no integer kernel (LiteRT's POW is float and int32 only); it runs in float".into()),
        // SDP's other element-wise operations are not modelled on the fly.
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    BinaryRow {
        kind: BinaryKind::Maximum,
        name: "maximum",
        verb: "takes the maximum of",
        float: f32::max,
        cost: ElementCost { per_input: 0, per_output: 1 },
        quant: |_, _| QuantRule::SharedWithInputs,
        fused_activation: false,
        moments: Some(gaussian_max),
        prepare: |cx, ab| prepare_extremum(cx, ab, true),
        // SDP's other element-wise operations are not modelled on the fly.
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    BinaryRow {
        kind: BinaryKind::Minimum,
        name: "minimum",
        verb: "takes the minimum of",
        float: f32::min,
        cost: ElementCost { per_input: 0, per_output: 1 },
        quant: |_, _| QuantRule::SharedWithInputs,
        fused_activation: false,
        moments: Some(|(mx, vx), (my, vy)| {
            let (m, v) = gaussian_max((-mx, vx), (-my, vy));
            (-m, v)
        }),
        prepare: |cx, ab| prepare_extremum(cx, ab, false),
        // SDP's other element-wise operations are not modelled on the fly.
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    BinaryRow {
        kind: BinaryKind::Prelu,
        name: "prelu",
        verb: "applies slopes of",
        float: |x, a| if x >= 0.0 { x } else { x * a },
        cost: ElementCost { per_input: 0, per_output: 2 },
        quant: |_, _| QuantRule::Free,
        fused_activation: false,
        moments: None,
        prepare: prepare_prelu,
        // SDP's other element-wise operations are not modelled on the fly.
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
    BinaryRow {
        kind: BinaryKind::SquaredDifference,
        name: "squared_difference",
        verb: "takes the squared difference of",
        float: |a, b| (a - b) * (a - b),
        // A subtraction and a multiplication.
        cost: ElementCost { per_input: 0, per_output: 2 },
        // LiteRT's integer kernel is int8 only.
        quant: QuantRule::free_up_to_8_bits,
        fused_activation: false,
        // For independent Gaussians d = x - y ~ N(m, v), m = mx - my, v = vx + vy:
        // E[d^2] = m^2 + v, Var[d^2] = 2 v^2 + 4 m^2 v (exact; d^2 is not Gaussian).
        moments: Some(|(mx, vx), (my, vy)| {
            let (m, v) = (mx - my, vx + vy);
            (m * m + v, 2.0 * v * v + 4.0 * m * m * v)
        }),
        prepare: prepare_squared_difference,
        // SDP's other element-wise operations are not modelled on the fly.
        on_the_fly: OnTheFly::No,
        workbook: NO_WORKBOOK_ROW,
    },
];

/// The table row of a kind.
pub fn row(kind: BinaryKind) -> &'static BinaryRow {
    TABLE.iter().find(|r| r.kind == kind).expect("every BinaryKind has a row in ops::binary::TABLE")
}

/// The row with this name (as model files write it).
pub fn by_name(name: &str) -> Option<&'static BinaryRow> {
    TABLE.iter().find(|r| r.name == name)
}

/// The integer parameters of one binary kind.
pub enum BinaryParams {
    /// LiteRT's quantized ADD.
    Add(AddParams),
    /// LiteRT's quantized SUB (ADD's parameters).
    Sub(AddParams),
    /// LiteRT's quantized MUL.
    Mul(MulParams),
    /// MAXIMUM / MINIMUM.
    Extremum(ExtremumParams),
    /// LiteRT's quantized PRELU.
    Prelu(PreluParams),
    /// LiteRT's int8 SQUARED_DIFFERENCE.
    SquaredDifference(SquaredDifferenceParams),
}

/// The output clamp: the type's range narrowed by the fused activation.
fn act_range(cx: &LayerCx) -> (i32, i32) {
    let out = cx.out();
    let (qmin, qmax) = qrange(out.dtype);
    let (so, zo) = scale_zp(out);
    elementwise::activation_range(cx.l.activation, so, zo, qmin, qmax)
}

fn add_params(cx: &LayerCx, [a, b]: [&Tensor; 2]) -> AddParams {
    let out = cx.out();
    let (so, zo) = scale_zp(out);
    let (s1, z1) = scale_zp(a);
    let (s2, z2) = scale_zp(b);
    AddParams::new(s1, z1, s2, z2, so, zo, out.dtype.bits(), act_range(cx))
}

/// `MulPrepare`: one multiplier `s1 * s2 / s_out`, computed in float.
fn prepare_mul(cx: &LayerCx, [a, b]: [&Tensor; 2]) -> Result<BinaryParams, String> {
    let ((s1, z1), (s2, z2), (so, zo)) = (scale_zp(a), scale_zp(b), scale_zp(cx.out()));
    let m = QuantMultiplier::from_real((s1 * s2 / so) as f64);
    // LiteRT's operands (int8, or int16 with zero point 0) multiply within 32 bits and take
    // its double rounding; wider products (16-bit operands with zero points, from
    // post-training quantization) would wrap there, so they are rounded once from 64 bits.
    let span = |t: &Tensor, z: i32| {
        let (lo, hi) = qrange(t.dtype);
        (i64::from(hi) - i64::from(z)).max(i64::from(z) - i64::from(lo))
    };
    let wide = span(a, z1).saturating_mul(span(b, z2)) > i64::from(i32::MAX);
    let requant = if wide { Requant::Single } else { Requant::Double };
    Ok(BinaryParams::Mul(MulParams { zp1: z1, zp2: z2, zp_out: zo, m, requant, act: act_range(cx) }))
}

fn prepare_extremum(cx: &LayerCx, [a, b]: [&Tensor; 2], max: bool) -> Result<BinaryParams, String> {
    let (so, zo) = scale_zp(cx.out());
    let rescale = |t: &Tensor| {
        let (s, z) = scale_zp(t);
        ((s, z) != (so, zo)).then(|| (z, QuantMultiplier::from_real(s as f64 / so as f64)))
    };
    Ok(BinaryParams::Extremum(ExtremumParams {
        rescale: [rescale(a), rescale(b)],
        zp_out: zo,
        act: act_range(cx),
        max,
    }))
}

/// `PreluPrepare`: `s_in / s_out` and `s_in * s_alpha / s_out`, computed in float.
fn prepare_prelu(cx: &LayerCx, [x, alpha]: [&Tensor; 2]) -> Result<BinaryParams, String> {
    let ((si, zi), (sa, za), (so, zo)) = (scale_zp(x), scale_zp(alpha), scale_zp(cx.out()));
    Ok(BinaryParams::Prelu(PreluParams {
        zp_in: zi,
        zp_alpha: za,
        zp_out: zo,
        identity: QuantMultiplier::from_real((si / so) as f64),
        alpha: QuantMultiplier::from_real((si * sa / so) as f64),
        act: act_range(cx),
    }))
}

/// LiteRT's int8 SQUARED_DIFFERENCE `Prepare`: both inputs to `s_i / (2 max(s1, s2))` at 7
/// extra bits, the square back by `(2 max)^2 / (2^14 s_out)`; the output multiplier must be
/// below one (LiteRT checks it).
fn prepare_squared_difference(cx: &LayerCx, [a, b]: [&Tensor; 2]) -> Result<BinaryParams, String> {
    let ((s1, z1), (s2, z2), (so, zo)) = (scale_zp(a), scale_zp(b), scale_zp(cx.out()));
    let types = [a.dtype, b.dtype, cx.out().dtype];
    if types.iter().any(|&t| t != crate::ir::DataType::int(8)) {
        return Err("SQUARED_DIFFERENCE has an integer kernel for int8 only (LiteRT's)".into());
    }
    let twice_max = f64::from(2.0 * s1.max(s2));
    let smaller_than_one = |what: &str, real: f64| {
        let m = QuantMultiplier::from_real(real);
        if m.shift > 0 {
            Err(format!("SQUARED_DIFFERENCE's {what} rescale {real:e} is not below one (LiteRT requires it)"))
        } else {
            Ok(m)
        }
    };
    Ok(BinaryParams::SquaredDifference(SquaredDifferenceParams {
        zp1: z1,
        zp2: z2,
        zp_out: zo,
        m1: smaller_than_one("first input's", f64::from(s1) / twice_max)?,
        m2: smaller_than_one("second input's", f64::from(s2) / twice_max)?,
        m_out: smaller_than_one("output", twice_max * twice_max / (f64::from(1u32 << 14) * f64::from(so)))?,
    }))
}

/// Mean and variance of the maximum of two independent Gaussians (Clark, "The greatest of a
/// finite set of random variables", Operations Research 9(2), 1961).
fn gaussian_max((m1, v1): (f64, f64), (m2, v2): (f64, f64)) -> (f64, f64) {
    let theta = (v1 + v2).max(0.0).sqrt();
    if theta < 1e-12 {
        return (m1.max(m2), 0.0);
    }
    let a = (m1 - m2) / theta;
    let pdf = (-0.5 * a * a).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let (cdf, cdf_neg) = (normal_cdf(a), normal_cdf(-a));
    let mean = m1 * cdf + m2 * cdf_neg + theta * pdf;
    let second = (m1 * m1 + v1) * cdf + (m2 * m2 + v2) * cdf_neg + (m1 + m2) * theta * pdf;
    (mean, (second - mean * mean).max(0.0))
}

/// The standard normal CDF (Abramowitz and Stegun 7.1.26 for erf, error below 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// A prepared integer binary layer: the kernel's parameters and the broadcast of each operand.
pub struct IntBinary {
    params: BinaryParams,
    operands: [Operand<i32>; 2],
    out_shape: Vec<usize>,
    /// An ADD or SUB of two inputs of the output's shape, under LiteRT's rounding, into a
    /// signed output of at most 8 bits clamped within i8: on 8-bit inputs it runs on them as
    /// stored and stores its output as 8 bits ([`elementwise::add_or_sub_i8`]).
    i8_add: bool,
}

impl IntBinary {
    pub(super) fn run(&self, inputs: &[&Values], arith: &Arithmetic) -> Result<Vec<Values>, String> {
        if let (true, [Values::I8(a), Values::I8(b)]) = (self.i8_add, inputs) {
            match &self.params {
                BinaryParams::Add(p) => return Ok(vec![Values::I8(elementwise::add_or_sub_i8(p, a, b, false))]),
                BinaryParams::Sub(p) => return Ok(vec![Values::I8(elementwise::add_or_sub_i8(p, a, b, true))]),
                BinaryParams::Mul(_)
                | BinaryParams::Extremum(_)
                | BinaryParams::Prelu(_)
                | BinaryParams::SquaredDifference(_) => {}
            }
        }
        let mut next = inputs.iter();
        let mut operand = |o: &Operand<i32>| -> Result<Vec<i32>, String> {
            let v = match o {
                Operand::Input(shape) => match next.next().map(|v| v.view()) {
                    Some(View::Int(v)) => broadcast(&v, shape, &self.out_shape),
                    Some(View::F32(_)) => return Err("expects an integer input, got floats".into()),
                    None => return Err("input not computed".into()),
                },
                Operand::Constant(v, shape) => broadcast(v, shape, &self.out_shape),
            };
            Ok(v)
        };
        let a = operand(&self.operands[0])?;
        let b = operand(&self.operands[1])?;
        Ok(vec![Values::Int(match &self.params {
            BinaryParams::Add(p) => elementwise::add(p, &a, &b, arith),
            BinaryParams::Sub(p) => elementwise::sub(p, &a, &b, arith),
            BinaryParams::Mul(p) => elementwise::mul(p, &a, &b, arith),
            BinaryParams::Extremum(p) => elementwise::extremum(p, &a, &b),
            BinaryParams::Prelu(p) => elementwise::prelu(p, &a, &b),
            BinaryParams::SquaredDifference(p) => elementwise::squared_difference(p, &a, &b),
        })])
    }
}

/// Where an operand's values come from: the next data input, or a constant.
enum Operand<T> {
    Input(Vec<usize>),
    Constant(Vec<T>, Vec<usize>),
}

/// The shape two shapes broadcast to, if they do.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| if i + s.len() >= rank { s[i + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// Values of shape `from` stretched to shape `to` (which `from` broadcasts to).
pub fn broadcast<T: Copy>(v: &[T], from: &[usize], to: &[usize]) -> Vec<T> {
    if from == to {
        return v.to_vec();
    }
    let rank = to.len();
    // Stride of each output axis in `v` (0 where the operand stretches).
    let mut strides = vec![0usize; rank];
    let mut s = 1;
    for i in (0..rank).rev() {
        let d = if i + from.len() >= rank { from[i + from.len() - rank] } else { 1 };
        strides[i] = if d == 1 { 0 } else { s };
        s *= d;
    }
    let total: usize = to.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; rank];
    for _ in 0..total {
        out.push(v[idx.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>()]);
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < to[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// The two operands of a binary layer: its first two inputs (activations or constants).
fn operands<'a>(cx: &LayerCx<'a>) -> Result<[&'a Tensor; 2], String> {
    match cx.l.inputs[..] {
        [a, b] => Ok([cx.g.tensor(a), cx.g.tensor(b)]),
        _ => Err(format!("takes two operands, got {}", cx.l.inputs.len())),
    }
}

impl OpFamily for BinaryKind {
    fn name(&self) -> &'static str {
        row(*self).name
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        let [a, b] = operands(cx)?;
        match broadcast_shape(&a.shape, &b.shape) {
            Some(s) => Ok(vec![s]),
            None => Err(format!(
                "{} tensors of shapes {:?} and {:?}, which do not broadcast",
                row(*self).verb,
                a.shape,
                b.shape
            )),
        }
    }

    fn macs(&self, _cx: &LayerCx) -> Macs {
        Macs::ZERO
    }

    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let c = row(*self).cost;
        vec![vector_phase(cx, false, |i, o| {
            i.saturating_mul(c.per_input).saturating_add(o.saturating_mul(c.per_output))
        })]
    }

    fn quant_rule(&self, input_bits: u8, output_bits: u8) -> QuantRule {
        (row(*self).quant)(input_bits, output_bits)
    }

    fn dequantizes(&self) -> bool {
        false
    }

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::None
    }

    fn fused_activation(&self) -> bool {
        row(*self).fused_activation
    }

    fn on_the_fly(&self, _cx: &LayerCx) -> OnTheFly {
        row(*self).on_the_fly
    }

    fn workbook_row(&self, _cx: &LayerCx) -> WorkbookRow<'_> {
        row(*self).workbook
    }

    /// The output's batch follows from the inputs'.
    fn set_batch(&mut self, _n: usize) {}

    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let [a, b] = operands(cx)?;
        let out = &cx.out().shape;
        let mut next = inputs.iter();
        let mut values = |t: &Tensor| -> Result<Vec<f32>, String> {
            let v = if t.is_constant() {
                const_f32(t).ok_or_else(|| format!("constant '{}' has no values", t.name))?
            } else {
                next.next().ok_or("missing input")?.clone()
            };
            Ok(broadcast(&v, &t.shape, out))
        };
        let (va, vb) = (values(a)?, values(b)?);
        let f = row(*self).float;
        Ok(vec![va.iter().zip(&vb).map(|(&x, &y)| f(x, y)).collect()])
    }

    fn prepare_int(&self, cx: &LayerCx, arith: &Arithmetic) -> Result<IntKernel, String> {
        let [a, b] = operands(cx)?;
        let operand = |t: &Tensor| -> Result<Operand<i32>, String> {
            if t.is_constant() {
                let v = const_i32(t).ok_or_else(|| format!("constant '{}' has no integer values", t.name))?;
                Ok(Operand::Constant(v, t.shape.clone()))
            } else {
                Ok(Operand::Input(t.shape.clone()))
            }
        };
        let params = (row(*self).prepare)(cx, [a, b])?;
        let out = cx.out();
        let inputs_shaped = [a, b].iter().all(|t| !t.is_constant() && t.shape == out.shape);
        let i8_add = match &params {
            BinaryParams::Add(p) | BinaryParams::Sub(p) => {
                inputs_shaped
                    && arith.rounding == Rounding::TfliteDouble
                    && matches!(out.dtype, DataType::Int { bits: ..=8, signed: true })
                    && -128 <= p.act_min
                    && p.act_max <= 127
            }
            BinaryParams::Mul(_)
            | BinaryParams::Extremum(_)
            | BinaryParams::Prelu(_)
            | BinaryParams::SquaredDifference(_) => false,
        };
        Ok(IntKernel::Binary(IntBinary {
            params,
            operands: [operand(a)?, operand(b)?],
            out_shape: out.shape.clone(),
            i8_add,
        }))
    }

    /// Moments of independent operands: sums and differences add variances; a product has
    /// mean `mx my` and variance `vx vy + vx my^2 + vy mx^2`; a maximum or minimum of two
    /// Gaussians follows Clark (1961). An operand without statistics (a constant), a DIV or
    /// a PRELU leaves the output unknown.
    fn data_free(&self, cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        let (x, y) = (inputs.first().copied().flatten()?, inputs.get(1).copied().flatten()?);
        let cout = cx.out().shape.last().copied().unwrap_or(1);
        let f = row(*self).moments?;
        let (mean, var) = (0..cout).map(|i| f(x.channel(i), y.channel(i))).unzip();
        let moments = Moments { mean, var };
        Some(DataFree { moments, within_input_range: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_broadcast_from_the_last_axis() {
        assert_eq!(broadcast_shape(&[1, 8, 9, 32], &[32]), Some(vec![1, 8, 9, 32]));
        assert_eq!(broadcast_shape(&[1, 8, 1, 1], &[1, 1, 9, 3]), Some(vec![1, 8, 9, 3]));
        assert_eq!(broadcast_shape(&[1, 8, 8, 3], &[1, 3, 3, 4]), None);
    }

    #[test]
    fn broadcast_repeats_the_stretched_axes() {
        assert_eq!(broadcast(&[1, 2], &[2], &[2, 2]), vec![1, 2, 1, 2]);
        assert_eq!(broadcast(&[1, 2], &[2, 1], &[2, 3]), vec![1, 1, 1, 2, 2, 2]);
        assert_eq!(broadcast(&[5, 6, 7], &[1, 3], &[1, 3]), vec![5, 6, 7]);
    }

    #[test]
    fn clark_moments_of_a_maximum() {
        // max(N(0,1), N(0,1)): mean 1/sqrt(pi), variance 1 - 1/pi.
        let (m, v) = gaussian_max((0.0, 1.0), (0.0, 1.0));
        assert!((m - 1.0 / std::f64::consts::PI.sqrt()).abs() < 1e-6, "{m}");
        assert!((v - (1.0 - 1.0 / std::f64::consts::PI)).abs() < 1e-6, "{v}");
        // A far larger operand wins.
        let (m, v) = gaussian_max((10.0, 1.0), (0.0, 1.0));
        assert!((m - 10.0).abs() < 1e-6 && (v - 1.0).abs() < 1e-4, "{m} {v}");
    }

    #[test]
    fn every_kind_has_one_row() {
        let kinds = [
            BinaryKind::Add,
            BinaryKind::Sub,
            BinaryKind::Mul,
            BinaryKind::Div,
            BinaryKind::Maximum,
            BinaryKind::Minimum,
            BinaryKind::Prelu,
            BinaryKind::Pow,
            BinaryKind::SquaredDifference,
        ];
        for k in kinds {
            assert_eq!(TABLE.iter().filter(|r| r.kind == k).count(), 1);
        }
        assert_eq!(TABLE.len(), kinds.len());
    }
}
