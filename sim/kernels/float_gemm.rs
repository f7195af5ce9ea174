//! Fast float32 convolutions with the reference summation order.
//!
//! The float executor is the reference quantized models are measured against and the
//! calibration run; the plain loops of [`super::float::conv_reference`] made a MobileNet-v1
//! image cost ~0.5 s. Here a regular convolution is a GEMM (pixels x taps times taps x
//! output channels; 1x1 stride-1 convolutions read the input in place, others through an
//! im2col copy) with a 4 x 16 register tile, and a depthwise convolution adds each tap to a
//! row of per-channel accumulators. Both vectorize across output channels (and pixels),
//! never along a sum: every output still adds its products one by one in the order taps
//! `ky`, `kx`, input channel, starting from 0.0, and the bias last, so results equal the
//! plain loops'. The only difference: a tap outside the image adds `0 * w` (a signed zero)
//! in the GEMM instead of being skipped, which cannot change a value (only the sign of an
//! exact zero sum). The AVX2 build of the same code is chosen at run time; without FMA
//! contraction (Rust never fuses `a * b + c`) it rounds exactly as the scalar code.

use super::conv::ConvGeometry;

/// Pixels per register tile.
const MR: usize = 4;
/// Output channels per register tile (two AVX2 vectors).
const NR: usize = 16;

/// Regular convolution (groups = 1), NHWC input, OHWI weights.
pub(crate) fn conv(g: &ConvGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { conv_avx2(g, x, w, bias) };
    }
    conv_portable(g, x, w, bias)
}

/// Depthwise convolution (groups = channels, multiplier 1), NHWC input, `[C, kh, kw, 1]` weights.
pub(crate) fn depthwise(g: &ConvGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { depthwise_avx2(g, x, w, bias) };
    }
    depthwise_portable(g, x, w, bias)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn conv_avx2(g: &ConvGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    conv_portable(g, x, w, bias)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn depthwise_avx2(g: &ConvGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    depthwise_portable(g, x, w, bias)
}

/// The input as a pixels x taps matrix: the input itself for 1x1 stride-1 unpadded
/// convolutions, else an im2col copy with zeros for taps outside the image.
fn patches<'a>(g: &ConvGeometry, x: &'a [f32]) -> std::borrow::Cow<'a, [f32]> {
    let [n, h, wd, c] = g.input;
    let [_, oh, ow, _] = g.output;
    let [kh, kw] = g.kernel;
    let direct = kh == 1 && kw == 1 && g.stride == [1, 1] && (oh, ow) == (h, wd) && g.pad.top == 0 && g.pad.left == 0;
    if direct {
        return std::borrow::Cow::Borrowed(&x[..n * h * wd * c]);
    }
    let k = kh * kw * c;
    let mut a = vec![0f32; n * oh * ow * k];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &mut a[((b * oh + oy) * ow + ox) * k..][..k];
                for ky in 0..kh {
                    for kx in 0..kw {
                        if let Some((iy, ix)) = g.tap(oy, ox, ky, kx) {
                            row[(ky * kw + kx) * c..][..c].copy_from_slice(&x[((b * h + iy) * wd + ix) * c..][..c]);
                        }
                    }
                }
            }
        }
    }
    std::borrow::Cow::Owned(a)
}

#[inline(always)]
fn conv_portable(g: &ConvGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let [n, _, _, c] = g.input;
    let [_, oh, ow, cout] = g.output;
    let k = g.kernel[0] * g.kernel[1] * c;
    let pixels = n * oh * ow;
    let mut out = vec![0f32; pixels * cout];
    if k == 0 || cout == 0 {
        return out;
    }
    let a = patches(g, x);
    let zero_row = vec![0f32; k];
    let mut panel = vec![0f32; k * NR];
    for c0 in (0..cout).step_by(NR) {
        let nc = NR.min(cout - c0);
        // Panel k x NR of the transposed weights, zero beyond the last channel.
        panel.iter_mut().for_each(|v| *v = 0.0);
        for j in 0..nc {
            for (kk, &v) in w[(c0 + j) * k..][..k].iter().enumerate() {
                panel[kk * NR + j] = v;
            }
        }
        for p0 in (0..pixels).step_by(MR) {
            let np = MR.min(pixels - p0);
            let rows: [&[f32]; MR] =
                std::array::from_fn(|i| if i < np { &a[(p0 + i) * k..][..k] } else { &zero_row[..] });
            let acc = tile(&rows, &panel, k);
            for (i, acc_row) in acc.iter().enumerate().take(np) {
                let o = &mut out[(p0 + i) * cout + c0..][..nc];
                for (j, v) in o.iter_mut().enumerate() {
                    *v = acc_row[j] + bias.map_or(0.0, |b| b[c0 + j]);
                }
            }
        }
    }
    out
}

/// `MR x NR` sums over `k`, each in order of `kk`.
#[inline(always)]
fn tile(rows: &[&[f32]; MR], panel: &[f32], k: usize) -> [[f32; NR]; MR] {
    let mut acc = [[0f32; NR]; MR];
    let rows: [&[f32]; MR] = std::array::from_fn(|i| &rows[i][..k]);
    for (kk, b) in panel.chunks_exact(NR).take(k).enumerate() {
        for (acc_row, row) in acc.iter_mut().zip(&rows) {
            let av = row[kk];
            for (s, &bv) in acc_row.iter_mut().zip(b) {
                *s += av * bv;
            }
        }
    }
    acc
}

#[inline(always)]
fn depthwise_portable(g: &ConvGeometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let [n, h, wd, c] = g.input;
    let [_, oh, ow, _] = g.output;
    let [kh, kw] = g.kernel;
    // Weights tap-major: wt[(ky * kw + kx) * c + ch].
    let mut wt = vec![0f32; kh * kw * c];
    for ch in 0..c {
        for t in 0..kh * kw {
            wt[t * c + ch] = w[ch * kh * kw + t];
        }
    }
    let mut out = vec![0f32; n * oh * ow * c];
    let mut acc = vec![0f32; c];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                acc.iter_mut().for_each(|v| *v = 0.0);
                for ky in 0..kh {
                    for kx in 0..kw {
                        let Some((iy, ix)) = g.tap(oy, ox, ky, kx) else { continue };
                        let xs = &x[((b * h + iy) * wd + ix) * c..][..c];
                        let ws = &wt[(ky * kw + kx) * c..][..c];
                        for ((s, &xv), &wv) in acc.iter_mut().zip(xs).zip(ws) {
                            *s += xv * wv;
                        }
                    }
                }
                let o = &mut out[((b * oh + oy) * ow + ox) * c..][..c];
                for (ch, (v, &s)) in o.iter_mut().zip(&acc).enumerate() {
                    *v = s + bias.map_or(0.0, |b| b[ch]);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::ir::ExplicitPadding;
    use crate::kernels::conv::ConvGeometry;
    use crate::kernels::float::{conv, conv_reference};

    /// Deterministic values with many distinct magnitudes, so any change of summation order shows.
    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 - 0.5) * (1.0 + (s % 7) as f32 * 13.7)
            })
            .collect()
    }

    fn check(input: [usize; 4], cout: usize, kernel: [usize; 2], stride: [usize; 2], pad: [usize; 2], groups: usize) {
        let [n, h, w, c] = input;
        let pad = ExplicitPadding { top: pad[0], bottom: pad[0], left: pad[1], right: pad[1] };
        let oh = (h + 2 * pad.top - kernel[0]) / stride[0] + 1;
        let ow = (w + 2 * pad.left - kernel[1]) / stride[1] + 1;
        let output = [n, oh, ow, cout];
        let x = values(n * h * w * c, 1);
        let wt = values(cout * kernel[0] * kernel[1] * (c / groups), 2);
        let b = values(cout, 3);
        let geom = ConvGeometry { input, output, kernel, stride, dilation: [1, 1], pad };
        let fast = conv(&geom, groups, &x, &wt, Some(&b));
        let slow = conv_reference(&geom, groups, &x, &wt, Some(&b));
        assert_eq!(fast, slow, "{input:?} -> {output:?} k{kernel:?} s{stride:?} g{groups}");
    }

    #[test]
    fn fast_paths_equal_the_plain_loops_bit_for_bit() {
        check([1, 5, 6, 37], 21, [1, 1], [1, 1], [0, 0], 1); // direct GEMM, ragged tiles
        check([2, 7, 7, 3], 32, [3, 3], [2, 2], [1, 1], 1); // im2col with padding, batch 2
        check([1, 9, 8, 5], 7, [3, 2], [1, 2], [1, 0], 1);
        check([1, 8, 8, 19], 19, [3, 3], [1, 1], [1, 1], 19); // depthwise
        check([1, 9, 9, 24], 24, [3, 3], [2, 2], [1, 1], 24);
        check([1, 6, 6, 8], 8, [3, 3], [1, 1], [1, 1], 2); // grouped: plain loops
    }
}
