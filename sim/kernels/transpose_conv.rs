//! Transposed 2-D convolution (TFLite's TRANSPOSE_CONV, ONNX ConvTranspose) in NHWC with
//! OHWI weights, integer (per-channel int8 and 16x8) and float32, matching LiteRT's
//! reference `transpose_conv.h` and `integer_ops/transpose_conv.h`.
//!
//! LiteRT's reference kernels scatter: for each input pixel and channel (in that order) they
//! add its products with every kernel tap into a zeroed accumulator per output element,
//! dropping taps that fall outside the output; then they add the bias and requantize
//! (`MultiplyByQuantizedMultiplier` per output channel: double rounding of an int32
//! accumulator for int8, the reduced multiplier of an int64 one for 16x8) and clamp to
//! the fused activation. The kernels here gather instead -- one output element at a time,
//! its contributions in the scatter's order (input row, input column, input channel) --
//! so every output sees the same sequence of additions: the same integers under any
//! [`Arithmetic`] (narrow or saturating accumulators included) and the same float sums.

use super::fixedpoint::{requantize, Arithmetic, QuantMultiplier, Requant};

/// The shapes of a transposed convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransposeGeometry {
    /// Input shape `[n, h, w, c]`.
    pub input: [usize; 4],
    /// Output shape `[n, oh, ow, cout]`.
    pub output: [usize; 4],
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Strides (>= 1).
    pub stride: [usize; 2],
    /// Rows and columns cropped above and on the left.
    pub pad: [usize; 2],
}

/// The input rows (or columns) that reach output row `o`, ascending, each with its kernel
/// tap: the `i < input` with `o + pad - i * stride` in `0..kernel`.
pub fn sources(
    o: usize,
    pad: usize,
    kernel: usize,
    stride: usize,
    input: usize,
) -> impl Iterator<Item = (usize, usize)> {
    let stride = stride.max(1);
    let q = o + pad;
    let lo = (q + 1).saturating_sub(kernel).div_ceil(stride);
    let hi = (q / stride + 1).min(input);
    (lo..hi).map(move |i| (i, q - i * stride))
}

/// Everything an integer transposed convolution needs, resolved once per layer.
#[derive(Debug, Clone)]
pub struct TransposeConvParams {
    /// Shapes, strides and cropping.
    pub geom: TransposeGeometry,
    /// OHWI weights `[cout, kh, kw, c]`.
    pub weights: Vec<i32>,
    /// Per-output-channel weight zero points (zeros for TFLite).
    pub weight_zp: Vec<i32>,
    /// Bias per output channel (accumulator units).
    pub bias: Option<Vec<i64>>,
    /// Input zero point.
    pub input_zp: i32,
    /// Output zero point.
    pub output_zp: i32,
    /// Per-output-channel requantization multipliers.
    pub multipliers: Vec<QuantMultiplier>,
    /// Which LiteRT formula requantizes.
    pub requant: Requant,
    /// Output clamp (type range intersected with the fused activation).
    pub act_min: i32,
    /// Output clamp (upper).
    pub act_max: i32,
}

/// Runs the integer kernel: per output element `sum (x - zx)(w - zw)` in the reference's
/// order, the bias added last, requantized per output channel and clamped.
pub fn transpose_conv(p: &TransposeConvParams, x: &[i32], arith: &Arithmetic) -> Vec<i32> {
    let g = &p.geom;
    let [n, h, w, c] = g.input;
    let [_, oh, ow, cout] = g.output;
    let [kh, kw] = g.kernel;
    let mut out = vec![0i32; n * oh * ow * cout];
    let mut acc = vec![0i64; cout];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                acc.fill(0);
                for (iy, ky) in sources(oy, g.pad[0], kh, g.stride[0], h) {
                    for (ix, kx) in sources(ox, g.pad[1], kw, g.stride[1], w) {
                        let xs = &x[((b * h + iy) * w + ix) * c..][..c];
                        for (co, a) in acc.iter_mut().enumerate() {
                            let ws = &p.weights[((co * kh + ky) * kw + kx) * c..][..c];
                            let zw = p.weight_zp[co] as i64;
                            for (&xv, &wv) in xs.iter().zip(ws) {
                                *a = arith.acc_add(*a, (xv as i64 - p.input_zp as i64) * (wv as i64 - zw));
                            }
                        }
                    }
                }
                let base = ((b * oh + oy) * ow + ox) * cout;
                for (co, &a) in acc.iter().enumerate() {
                    let a = match &p.bias {
                        Some(bias) => arith.acc_add(a, bias[co]),
                        None => a,
                    };
                    let v = requantize(a, p.multipliers[co], p.requant, arith);
                    out[base + co] = v.saturating_add(p.output_zp).clamp(p.act_min, p.act_max);
                }
            }
        }
    }
    out
}

/// The float kernel: per output element the products summed in f32 from 0 in the
/// reference's order, the bias added last (the fused activation is the caller's).
pub fn transpose_conv_f32(g: &TransposeGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let [n, h, wd, c] = g.input;
    let [_, oh, ow, cout] = g.output;
    let [kh, kw] = g.kernel;
    let mut out = vec![0f32; n * oh * ow * cout];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let base = ((b * oh + oy) * ow + ox) * cout;
                let acc = &mut out[base..base + cout];
                for (iy, ky) in sources(oy, g.pad[0], kh, g.stride[0], h) {
                    for (ix, kx) in sources(ox, g.pad[1], kw, g.stride[1], wd) {
                        let xs = &x[((b * h + iy) * wd + ix) * c..][..c];
                        for (co, a) in acc.iter_mut().enumerate() {
                            let ws = &w[((co * kh + ky) * kw + kx) * c..][..c];
                            for (&xv, &wv) in xs.iter().zip(ws) {
                                *a += xv * wv;
                            }
                        }
                    }
                }
                if let Some(bias) = bias {
                    acc.iter_mut().zip(bias).for_each(|(a, b)| *a += b);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scatter loop of LiteRT's reference kernel, written as it is, for comparison.
    fn scatter(g: &TransposeGeometry, x: &[f32], w: &[f32]) -> Vec<f32> {
        let [n, h, wd, c] = g.input;
        let [_, oh, ow, cout] = g.output;
        let [kh, kw] = g.kernel;
        let mut out = vec![0f32; n * oh * ow * cout];
        for b in 0..n {
            for iy in 0..h {
                for ix in 0..wd {
                    for ci in 0..c {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                for co in 0..cout {
                                    let oy = (iy * g.stride[0] + ky) as isize - g.pad[0] as isize;
                                    let ox = (ix * g.stride[1] + kx) as isize - g.pad[1] as isize;
                                    if oy >= 0 && ox >= 0 && (oy as usize) < oh && (ox as usize) < ow {
                                        let o = ((b * oh + oy as usize) * ow + ox as usize) * cout + co;
                                        out[o] += x[((b * h + iy) * wd + ix) * c + ci]
                                            * w[((co * kh + ky) * kw + kx) * c + ci];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn gather_equals_the_reference_scatter_bit_for_bit() {
        // Strides 1..3, kernels larger and smaller than the stride, cropping, and outputs
        // both shorter and longer than the taps reach.
        for (k, s, pad, out) in
            [([3, 3], [2, 2], [1, 0], [9, 8]), ([2, 3], [3, 1], [0, 2], [7, 5]), ([4, 1], [1, 2], [3, 0], [4, 9])]
        {
            let g =
                TransposeGeometry { input: [2, 3, 4, 5], output: [2, out[0], out[1], 3], kernel: k, stride: s, pad };
            let x: Vec<f32> = (0..2 * 3 * 4 * 5).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
            let w: Vec<f32> = (0..3 * k[0] * k[1] * 5).map(|i| ((i * 53 % 97) as f32 - 48.0) / 13.0).collect();
            assert_eq!(transpose_conv_f32(&g, &x, &w, None), scatter(&g, &x, &w), "{k:?} {s:?} {pad:?}");
        }
    }

    #[test]
    fn sources_are_the_taps_that_land() {
        // Output row 4, pad 1, kernel 3, stride 2: q = 5 = 2 * 2 + 1 = 1 * 2 + 3 (tap 3 is
        // outside the kernel), so only input 2 with tap 1.
        assert_eq!(sources(4, 1, 3, 2, 10).collect::<Vec<_>>(), vec![(2, 1)]);
        assert_eq!(sources(3, 1, 3, 2, 10).collect::<Vec<_>>(), vec![(1, 2), (2, 0)]);
        // Beyond the input: none.
        assert_eq!(sources(9, 0, 2, 2, 4).count(), 0);
    }
}
