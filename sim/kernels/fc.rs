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
}

/// Runs the layer: `sum_k (x - zx)(w - zw)` per output, bias added last, requantized.
pub fn fully_connected(p: &FcParams, x: &[i32], arith: &Arithmetic) -> Vec<i32> {
    let mut out = vec![0i32; p.batch * p.out_features];
    for b in 0..p.batch {
        let xs = &x[b * p.in_features..][..p.in_features];
        for o in 0..p.out_features {
            let ws = &p.weights[o * p.in_features..][..p.in_features];
            let zw = p.weight_zp[o] as i64;
            let mut acc = 0i64;
            for (&xv, &wv) in xs.iter().zip(ws) {
                acc = arith.acc_add(acc, (xv as i64 - p.input_zp as i64) * (wv as i64 - zw));
            }
            if let Some(bias) = &p.bias {
                acc = arith.acc_add(acc, bias[o]);
            }
            let m = p.multipliers[if p.multipliers.len() == 1 { 0 } else { o }];
            let v = requantize(acc, m, p.requant, arith);
            out[b * p.out_features + o] = v.saturating_add(p.output_zp).clamp(p.act_min, p.act_max);
        }
    }
    out
}
