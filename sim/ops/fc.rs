//! The fully connected family: the input read as rows of `in_features` (TFLite's rule: rows =
//! elements / the weights' input features) times weights `[out_features, in_features]`; the
//! output is `[rows, out_features]`, or with `keep_dims` the input's shape with its last axis
//! replaced.

use super::conv::f32_data;
use super::weighted::{float_operands, hybrid_operands, int_weights, weighted_layer};
use super::work::{ConvWork, Operand, Phase};
use super::{
    int_input, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule, WeightLayout, WorkbookRow,
};
use crate::ir::FullyConnected;
use crate::kernels::fc::{self, FcParams};
use crate::kernels::{float, Arithmetic, Requant, Values};
use crate::units::Macs;

/// A prepared fully connected layer: integer, or LiteRT's hybrid form (float input and
/// output, integer weights, each input row quantized when it runs).
pub enum IntFc {
    /// Integer input and output.
    Int {
        /// The layer's parameters.
        params: Box<FcParams>,
        /// The weights packed for the fast kernel, where it runs the layer
        /// ([`fc::pack_fc`], under LiteRT's arithmetic).
        packed: Option<Box<fc::FcPacked>>,
    },
    /// Float input and output, int8 weights.
    Hybrid(Box<fc::HybridFcParams>),
}

impl IntFc {
    pub(super) fn run(&self, inputs: &[&Values], arith: &Arithmetic) -> Result<Vec<Values>, String> {
        match self {
            IntFc::Int { params, packed: Some(pk) } => {
                let fast = match inputs.first() {
                    Some(Values::I8(x)) => fc::fully_connected_fast(params, pk, x, arith),
                    Some(Values::Int(x)) => fc::fully_connected_fast(params, pk, x, arith),
                    Some(Values::F32(_)) => return Err("expects an integer input, got floats".into()),
                    None => return Err("input not computed".into()),
                };
                match fast {
                    Some(out) => Ok(vec![Values::Int(out)]),
                    // A packed layer's params hold no weights when the packing shares them.
                    None if params.weights.is_empty() => {
                        let weights = pk.widened(params.in_features, params.out_features);
                        let full = FcParams { weights, ..(**params).clone() };
                        Ok(vec![Values::Int(fc::fully_connected(&full, &int_input(inputs, 0)?, arith))])
                    }
                    None => Ok(vec![Values::Int(fc::fully_connected(params, &int_input(inputs, 0)?, arith))]),
                }
            }
            IntFc::Int { params, packed: None } => {
                Ok(vec![Values::Int(fc::fully_connected(params, &int_input(inputs, 0)?, arith))])
            }
            IntFc::Hybrid(p) => match inputs.first() {
                Some(Values::F32(x)) => Ok(vec![Values::F32(fc::hybrid_fully_connected(p, x))]),
                _ => Err("the hybrid layer expects a float input".into()),
            },
        }
    }
}

/// LiteRT's hybrid fully connected layer (dynamic-range quantization: per-token dynamic
/// int8 activations against int8 weights): a float input and output, int8 weights with one
/// scale or one per output, a float bias; asymmetric or symmetric input rows.
fn prepare_hybrid(fc: &FullyConnected, cx: &LayerCx, w: &crate::ir::Tensor) -> Result<IntKernel, String> {
    let (batch, in_features) = batch_features(cx);
    // LiteRT's blockwise weights (`dynamic_wi4b32_afp32`): its reference kernel does not apply
    // the block scales (measured: 13.5 off the float layer where its optimized kernels are
    // 0.8, and those two differ from each other in the last bit), so accelsim runs its own
    // definition (`kernels::fc::hybrid_fully_connected`), one scale per block and output.
    let block = w.groups.map(|g| g.size as usize);
    let scales = fc.out_features * block.map_or(1, |b| in_features.div_ceil(b.max(1)));
    let h = hybrid_operands(cx, w, scales)?;
    if block.is_some() && h.scales.len() != scales {
        return Err(format!(
            "{} block scales for {} outputs of {} blocks",
            h.scales.len(),
            fc.out_features,
            scales / fc.out_features.max(1)
        ));
    }
    Ok(IntKernel::Fc(IntFc::Hybrid(Box::new(fc::HybridFcParams {
        batch,
        in_features,
        out_features: fc.out_features,
        weights: h.weights,
        weight_scales: h.scales,
        bias: h.bias,
        asymmetric: asymmetric_rows(fc, w),
        activation: cx.l.activation,
        block,
    }))))
}

/// Whether a hybrid fully connected layer quantizes each input row with a zero point: when
/// its options say so, and always with block-wise weights, as LiteRT's optimized kernels run
/// them (its reference kernel defines no result there; measured on `fc_int4_blockwise`:
/// symmetric rows 0.078 off them, asymmetric ones 1e-6). The one rule the executor and the
/// cost model read.
pub(crate) fn asymmetric_rows(fc: &FullyConnected, w: &crate::ir::Tensor) -> bool {
    fc.asymmetric_inputs || w.groups.is_some()
}

/// Rows and input features of the layer's data input: rows of the weights' input features
/// (without weights, which shape inference refuses, the input flattened after its first axis).
fn batch_features(cx: &LayerCx) -> (usize, usize) {
    let x = cx.x();
    let features = match cx.weights().and_then(|w| w.shape.get(1).copied()) {
        Some(f) if f > 0 => f,
        _ => (x.elements() / x.shape.first().copied().unwrap_or(1).max(1) as u64) as usize,
    };
    ((x.elements() / features.max(1) as u64) as usize, features)
}

/// The group-wise integer kernel ([`crate::kernels::fc::FcGroups`]): each group's fp16 scale
/// split into an integer significand and exponent, the bias checked to be at
/// `input scale x 2^E`, and every output's worst-case sum bounded below 2^62 (from the
/// weights and the input type's range, and the accumulator's width when narrower).
fn prepare_groups(
    fc: &FullyConnected,
    cx: &LayerCx,
    w: &crate::ir::Tensor,
    arith: &Arithmetic,
) -> Result<IntKernel, String> {
    use crate::kernels::fc::GROUP_SUM_BOUND;
    use crate::kernels::{const_i32, const_i64, elementwise, qrange, scale_zp, QuantMultiplier};
    use crate::quant::clip::{group_integers, to_fp16};
    let (batch, in_features) = batch_features(cx);
    let cout = fc.out_features;
    let (x, out) = (cx.x(), cx.out());
    let wq = w.quant.as_ref().ok_or("weights are not quantized")?;
    let size = w.groups.map_or(1, |g| g.size as usize).max(1);
    let count = in_features.div_ceil(size);
    if wq.scales.len() != cout * count {
        return Err(format!("{} group scales for {cout} outputs of {count} groups", wq.scales.len()));
    }
    let weights = const_i32(w).ok_or("weights have no integer values")?;
    let (si, input_zp) = scale_zp(x);
    let (so, output_zp) = scale_zp(out);
    let (qmin, qmax) = qrange(out.dtype);
    let (act_min, act_max) = elementwise::activation_range(cx.l.activation, so, output_zp, qmin, qmax);
    let bias = match cx.bias() {
        Some(b) => Some((const_i64(b).ok_or("bias has no integer values")?, b.quant.as_ref())),
        None => None,
    };
    let (xlo, xhi) = qrange(x.dtype);
    let xspan = (i64::from(xhi) - i64::from(input_zp)).max(i64::from(input_zp) - i64::from(xlo)) as f64;
    let acc_cap = 2f64.powi(arith.acc_bits.min(63) as i32 - 1);
    let (mut scale, mut zero_points, mut multipliers) = (Vec::new(), Vec::new(), Vec::new());
    for o in 0..cout {
        let scales: Vec<f32> = (0..count).map(|j| wq.group(o, count, j).0).collect();
        // An fp16 value is `m * 2^e` with an integer `m < 2048` and `e` in -24..=5, so the
        // shifts below are at most 29 places.
        if let Some(j) = scales.iter().position(|&s| to_fp16(s) != s) {
            return Err(format!(
                "output {o}, group {j}: scale {} is not an fp16 number (group-wise scales are fp16)",
                scales[j]
            ));
        }
        let (ints, e_min) = group_integers(&scales);
        let mut bound = 0f64;
        for (j, s) in ints.into_iter().enumerate() {
            let zw = wq.group(o, count, j).1 as i32;
            let ws = weights[o * in_features..][..in_features].chunks(size).nth(j).unwrap_or(&[]);
            let part = ws.iter().map(|&v| (f64::from(v) - f64::from(zw)).abs()).sum::<f64>() * xspan;
            bound += part.min(acc_cap) * s as f64;
            scale.push(s);
            zero_points.push(zw);
        }
        let bias_scale = f64::from(si) * 2f64.powi(e_min);
        if let Some((b, bq)) = &bias {
            let got = bq.map_or(bias_scale, |q| f64::from(q.channel(o).0));
            if ((got - bias_scale) / bias_scale).abs() > 1e-6 {
                return Err(format!(
                    "output {o}: bias scale {got} where group-wise weights need input scale x 2^{e_min} = {bias_scale}"
                ));
            }
            bound += b.get(o).map_or(0.0, |&v| (v as f64).abs());
        }
        if bound >= GROUP_SUM_BOUND {
            return Err(format!(
                "output {o}: group-wise sums could reach about 2^{:.0}; at most 2^62 is exact",
                bound.log2()
            ));
        }
        multipliers.push(QuantMultiplier::checked(bias_scale / f64::from(so)).map_err(|m| format!("output {o}: {m}"))?);
    }
    let bias = bias.map(|(b, _)| b);
    Ok(IntKernel::Fc(IntFc::Int {
        packed: None,
        params: Box::new(FcParams {
            batch,
            in_features,
            out_features: cout,
            weights,
            weight_zp: vec![0; cout],
            bias,
            input_zp,
            output_zp,
            multipliers,
            requant: Requant::Single,
            act_min,
            act_max,
            groups: Some(fc::FcGroups { size, count, scale, zero_points }),
        }),
    }))
}

impl OpFamily for FullyConnected {
    fn name(&self) -> &'static str {
        "fc"
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        let x = cx.x();
        let wt = cx.weights().ok_or_else(|| {
            format!("has no weight tensor, expected one of shape [{}, in_features]", self.out_features)
        })?;
        let (n, features) = batch_features(cx);
        let whole_rows = features > 0 && x.elements() > 0 && x.elements() % features as u64 == 0;
        let last_axis = !self.keep_dims || x.shape.last() == Some(&features);
        if wt.shape.len() != 2 || wt.shape[0] != self.out_features || !whole_rows || !last_axis {
            let want = if self.keep_dims { "its last axis" } else { "a whole number of rows of them" };
            return Err(format!(
                "weights have shape {:?}, expected [{}, in_features] with input {:?} holding {want}",
                wt.shape, self.out_features, x.shape
            ));
        }
        if self.keep_dims {
            let mut shape = x.shape.clone();
            if let Some(last) = shape.last_mut() {
                *last = self.out_features;
            }
            return Ok(vec![shape]);
        }
        Ok(vec![vec![n, self.out_features]])
    }

    fn macs(&self, cx: &LayerCx) -> Macs {
        let (batch, features) = batch_features(cx);
        Macs((batch as u64).saturating_mul(features as u64).saturating_mul(self.out_features as u64))
    }

    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let (batch, features) = batch_features(cx);
        let work = ConvWork::fully_connected(batch as u64, features as u64, self.out_features as u64);
        vec![Phase::Gemm { work, operand: Operand::Constant }]
    }

    fn quant_rule(&self, _input_bits: u8, _output_bits: u8) -> QuantRule {
        QuantRule::Free
    }

    fn dequantizes(&self) -> bool {
        false
    }

    fn on_the_fly(&self, _cx: &LayerCx) -> OnTheFly {
        OnTheFly::No
    }

    fn workbook_row(&self, _cx: &LayerCx) -> WorkbookRow<'_> {
        WorkbookRow::FullyConnected { out_features: self.out_features }
    }

    /// The output's batch follows from the inputs'.
    fn set_batch(&mut self, _n: usize) {}

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::Matrix(self)
    }

    fn fused_activation(&self) -> bool {
        true
    }

    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let (w, b) = float_operands(cx)?;
        let (batch, features) = batch_features(cx);
        let x = inputs.first().ok_or("missing input")?;
        Ok(vec![float::fully_connected(batch, features, self.out_features, x, &w, b.as_deref())])
    }

    fn prepare_int(&self, cx: &LayerCx, arith: &Arithmetic) -> Result<IntKernel, String> {
        if let Some(w) = cx.weights().filter(|_| cx.g.is_hybrid(cx.l)) {
            return prepare_hybrid(self, cx, w);
        }
        if let Some(w) =
            cx.weights().filter(|w| w.groups.is_some() && w.quant.as_ref().is_some_and(|q| q.scales.len() > 1))
        {
            return prepare_groups(self, cx, w, arith);
        }
        let wl = weighted_layer(cx, self.out_features)?;
        let (batch, in_features) = batch_features(cx);
        // LiteRT's FULLY_CONNECTED (int8 and 16x8, per tensor or per channel) rounds the
        // accumulator once with the full multiplier (docs/tflite_export.md); wider weights
        // with wide activations (post-training quantization at > 8 bits) take the reduced
        // 64-bit path of the 16x8 convolutions.
        let requant = if wl.x.dtype.bits() > 8 && wl.w.dtype.bits() > 8 { Requant::Reduced } else { Requant::Single };
        let requant = requant.checked(&wl.multipliers)?;
        let mut params = Box::new(FcParams {
            batch,
            in_features,
            out_features: self.out_features,
            weight_zp: wl.weight_zp,
            weights: Vec::new(),
            bias: wl.bias,
            input_zp: wl.input_zp,
            output_zp: wl.output_zp,
            multipliers: wl.multipliers,
            requant,
            act_min: wl.act_min,
            act_max: wl.act_max,
            groups: None,
        });
        // Packed from the weights as the graph stores them (8-bit ones shared, not widened);
        // `params` keeps widened weights only where the layer is not packed.
        let packed = match &wl.w.data {
            Some(crate::ir::TensorData::I8(w)) if arith.is_litert() => fc::pack_fc_i8(&params, w),
            _ => None,
        };
        let packed = match packed {
            Some(pk) => Some(pk),
            None => {
                params.weights = int_weights(wl.w)?;
                arith.is_litert().then(|| fc::pack_fc(&params, &params.weights)).flatten()
            }
        };
        Ok(IntKernel::Fc(IntFc::Int { params, packed: packed.map(Box::new) }))
    }

    /// Mean `b + sum W * E[x]`, variance `sum W^2 Var[x]` over the flattened input (its
    /// moments collapsed when they are per channel of a larger tensor).
    fn data_free(&self, cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        let x = inputs.first().copied().flatten()?;
        let w = cx.weights().and_then(f32_data)?;
        let b = cx.bias().and_then(f32_data);
        let outf = self.out_features;
        let inf = w.len() / outf.max(1);
        let flat = x.clone().with_channels(inf);
        let mut mean = vec![0f64; outf];
        let mut var = vec![0f64; outf];
        for o in 0..outf {
            for (k, &wv) in w[o * inf..(o + 1) * inf].iter().enumerate() {
                let (mu, v) = flat.channel(k);
                mean[o] += wv as f64 * mu;
                var[o] += (wv as f64).powi(2) * v;
            }
            mean[o] += b.map_or(0.0, |b| b[o] as f64);
        }
        Some(DataFree { moments: Moments { mean, var }, within_input_range: false })
    }
}
