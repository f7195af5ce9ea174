//! Integer fully connected layer, matching LiteRT's reference `fully_connected.h` (int8
//! per-tensor or per-channel, and 16x8 with 64-bit bias).

use super::fixedpoint::{requantize, Arithmetic, QuantMultiplier, Requant};

/// Everything an integer fully connected layer needs, resolved once per layer.
#[derive(Debug, Clone)]
pub struct FcParams {
    /// Batch rows.
    pub batch: usize,
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// Weights `[out_features, in_features]`.
    pub weights: Vec<i32>,
    /// Per-output weight zero points (zeros for TFLite).
    pub weight_zp: Vec<i32>,
    /// Bias per output feature.
    pub bias: Option<Vec<i64>>,
    /// Input zero point.
    pub input_zp: i32,
    /// Output zero point.
    pub output_zp: i32,
    /// Per-output (or a single, repeated) requantization multiplier.
    pub multipliers: Vec<QuantMultiplier>,
    /// Which LiteRT formula requantizes.
    pub requant: Requant,
    /// Output clamp (lower).
    pub act_min: i32,
    /// Output clamp (upper).
    pub act_max: i32,
    /// Group-wise weights (then `weight_zp` is unused and `multipliers` are per output).
    pub groups: Option<FcGroups>,
}

/// Group-wise weights of a fully connected layer: one fp16 scale `s = m * 2^e` (integer
/// significand `m`, [`crate::quant::clip::fp16_parts`]) and one zero point per group of
/// `size` consecutive weights of an output's reduction.
///
/// accelsim's integer definition (LiteRT has no group-wise kernel): each group's sum
/// `acc_j = sum (x - zx)(w - zw_j)` is an exact integer; with `E` the smallest group exponent
/// of the output, `P = sum_j acc_j * m_j * 2^(e_j - E)` is an exact integer equal to
/// `sum_j s_j acc_j / 2^E`; the bias is an integer at scale `input scale x 2^E`; the output
/// is `zo + (P + bias)` rescaled by `input scale x 2^E / output scale` with one rounding
/// ([`Requant::Single`]) and clamped. The only rounding is the last one (up to the 31-bit
/// multiplier), so it is the float computation with the dequantized weights to within one
/// step of the output.
#[derive(Debug, Clone)]
pub struct FcGroups {
    /// Weights per group (a ragged last group is a group).
    pub size: usize,
    /// Groups per output.
    pub count: usize,
    /// Per output and group, `m_j * 2^(e_j - E)`: the group's scale over `2^E`, an integer.
    pub scale: Vec<i64>,
    /// Per output and group, the weights' zero point.
    pub zero_points: Vec<i32>,
}

/// Runs the layer: `sum_k (x - zx)(w - zw)` per output, bias added last, requantized.
pub fn fully_connected(p: &FcParams, x: &[i32], arith: &Arithmetic) -> Vec<i32> {
    let mut out = vec![0i32; p.batch * p.out_features];
    for b in 0..p.batch {
        let xs = &x[b * p.in_features..][..p.in_features];
        for o in 0..p.out_features {
            let ws = &p.weights[o * p.in_features..][..p.in_features];
            let mut acc = 0i64;
            match &p.groups {
                None => {
                    let zw = p.weight_zp[o] as i64;
                    for (&xv, &wv) in xs.iter().zip(ws) {
                        acc = arith.acc_add(acc, (xv as i64 - p.input_zp as i64) * (wv as i64 - zw));
                    }
                }
                // Bounded by `FcGroups`'s prepare: the sums fit 63 bits.
                Some(g) => {
                    for (j, (xg, wg)) in xs.chunks(g.size).zip(ws.chunks(g.size)).enumerate() {
                        let zw = g.zero_points[o * g.count + j] as i64;
                        let mut part = 0i64;
                        for (&xv, &wv) in xg.iter().zip(wg) {
                            part = arith.acc_add(part, (xv as i64 - p.input_zp as i64) * (wv as i64 - zw));
                        }
                        acc += part * g.scale[o * g.count + j];
                    }
                }
            }
            if let Some(bias) = &p.bias {
                acc = if p.groups.is_some() { acc.saturating_add(bias[o]) } else { arith.acc_add(acc, bias[o]) };
            }
            let m = p.multipliers[if p.multipliers.len() == 1 { 0 } else { o }];
            let v = requantize(acc, m, if p.groups.is_some() { Requant::Single } else { p.requant }, arith);
            out[b * p.out_features + o] = v.saturating_add(p.output_zp).clamp(p.act_min, p.act_max);
        }
    }
    out
}
