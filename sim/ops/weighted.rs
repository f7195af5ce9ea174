//! What the weighted families (conv, fully connected) share: integer weights and bias, zero
//! points, per-channel requantization multipliers and the output clamp, read from the graph
//! once when the integer kernel is prepared.

use super::LayerCx;
use crate::ir::{Tensor, TensorData};
use crate::kernels::{const_i32, const_i64, elementwise, qrange, scale_zp, QuantMultiplier};

/// The resolved integer operands of a conv or FC layer.
pub(crate) struct WeightedLayer<'g> {
    pub x: &'g Tensor,
    /// The weight tensor, whose integer values [`int_weights`] reads (the fast
    /// convolutions pack them as stored instead).
    pub w: &'g Tensor,
    pub bias: Option<Vec<i64>>,
    pub input_zp: i32,
    pub output_zp: i32,
    pub act_min: i32,
    pub act_max: i32,
    /// One multiplier per output channel: input scale x weight scale / output scale.
    pub multipliers: Vec<QuantMultiplier>,
    /// One weight zero point per output channel.
    pub weight_zp: Vec<i32>,
}

pub(crate) fn weighted_layer<'g>(cx: &LayerCx<'g>, cout: usize) -> Result<WeightedLayer<'g>, String> {
    let x = cx.x();
    let out = cx.out();
    if x.dtype == crate::ir::DataType::F32 {
        return Err(
            "a float input with integer weights (LiteRT's hybrid, dynamic-range form) runs for fully connected and convolution layers only"
                .into(),
        );
    }
    let w = cx.weights().ok_or("no weights")?;
    if !matches!(w.data, Some(TensorData::I8(_) | TensorData::I32(_) | TensorData::I64(_))) {
        return Err("weights have no integer values".into());
    }
    let bias = match cx.bias() {
        Some(b) => Some(const_i64(b).ok_or("bias has no integer values")?),
        None => None,
    };
    let (si, input_zp) = scale_zp(x);
    let (so, output_zp) = scale_zp(out);
    let (qmin, qmax) = qrange(out.dtype);
    let (act_min, act_max) = elementwise::activation_range(cx.l.activation, so, output_zp, qmin, qmax);
    let wq = w.quant.as_ref().ok_or("weights are not quantized")?;
    if wq.scales.len() != 1 && wq.scales.len() != cout {
        return Err(format!("{} weight scales for {} output channels", wq.scales.len(), cout));
    }
    let multipliers = (0..cout)
        .map(|c| {
            let (sw, _) = wq.channel(c);
            QuantMultiplier::checked(si as f64 * sw as f64 / so as f64).map_err(|m| format!("output channel {c}: {m}"))
        })
        .collect::<Result<_, _>>()?;
    let weight_zp = (0..cout).map(|c| wq.channel(c).1 as i32).collect();
    Ok(WeightedLayer { x, w, bias, input_zp, output_zp, act_min, act_max, multipliers, weight_zp })
}

/// A weight tensor's values widened to i32 (what the reference kernels take).
pub(crate) fn int_weights(w: &Tensor) -> Result<Vec<i32>, String> {
    const_i32(w).ok_or_else(|| "weights have no integer values".into())
}

/// The float weights and bias of a conv or FC layer (dequantized when quantized).
pub(crate) fn float_operands(cx: &LayerCx) -> Result<(Vec<f32>, Option<Vec<f32>>), String> {
    let w = cx.weights().and_then(crate::kernels::const_f32).ok_or("weights have no values")?;
    Ok((w, cx.bias().and_then(crate::kernels::const_f32)))
}

/// The operands of a conv or FC layer in LiteRT's hybrid form (integer weights behind a
/// float input, `Graph::is_hybrid`).
pub(crate) struct HybridOperands {
    /// The weights' values (int8; narrower ones held as int8 values, as LiteRT unpacks int4).
    pub weights: Vec<i32>,
    /// Weight scales: one, or one per output channel.
    pub scales: Vec<f32>,
    /// The float bias.
    pub bias: Option<Vec<f32>>,
}

/// Reads a hybrid layer's operands for `cout` output channels: symmetric weights of at most 8
/// bits, a float bias and a float output, as LiteRT's hybrid kernels take them.
pub(crate) fn hybrid_operands(cx: &LayerCx, w: &Tensor, cout: usize) -> Result<HybridOperands, String> {
    use crate::ir::DataType;
    let wq = w.quant.as_ref().ok_or("weights are not quantized")?;
    let narrow = matches!(w.dtype, DataType::Int { bits: 2..=8, signed: true });
    if !narrow || wq.zero_points.iter().any(|&z| z != 0) {
        return Err(format!(
            "hybrid (float input) layer with {} weights; LiteRT's takes symmetric weights of at most 8 bits",
            w.dtype
        ));
    }
    if wq.scales.len() != 1 && wq.scales.len() != cout {
        return Err(format!("{} weight scales for {} outputs", wq.scales.len(), cout));
    }
    let bias = match cx.bias() {
        Some(b) if b.dtype == DataType::F32 => Some(crate::kernels::const_f32(b).ok_or("bias has no values")?),
        Some(b) => return Err(format!("hybrid layer with a {} bias; LiteRT's takes a float bias", b.dtype)),
        None => None,
    };
    if cx.out().dtype != DataType::F32 {
        return Err("hybrid layer with an integer output".into());
    }
    let weights = const_i32(w).ok_or("weights have no integer values")?;
    Ok(HybridOperands { weights, scales: wq.scales.clone(), bias })
}
