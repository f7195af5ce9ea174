//! Integer 2-D convolution (dense, grouped and depthwise) in NHWC with OHWI weights,
//! matching LiteRT's reference `integer_ops/conv.h` and `depthwise_conv.h` (per-channel
//! int8 and 16x8).
//!
//! Two implementations give identical results: [`conv_reference`], a scalar loop that
//! follows the reference kernels and honours any [`Arithmetic`] (narrow accumulators,
//! saturation, other roundings), and [`conv_fast`], used for 8-bit-or-narrower operands
//! under LiteRT's arithmetic. The fast path folds the input zero point out of the inner
//! loop (`sum (x - zx) w = sum x w - zx sum w`), pads with `zx` so the fold stays valid at
//! the borders, and accumulates `i16 x i16` products in i32, whose addition is associative,
//! so SIMD order cannot change a result. An AVX2 build of the same loops is dispatched at
//! run time.

use super::fixedpoint::{requantize, Arithmetic, QuantMultiplier, Requant};
use crate::ir::ExplicitPadding;

/// Everything an integer convolution needs, resolved once per layer.
#[derive(Debug, Clone)]
pub struct ConvParams {
    /// Input shape `[n, h, w, c]`.
    pub input: [usize; 4],
    /// Output shape `[n, oh, ow, cout]`.
    pub output: [usize; 4],
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Strides.
    pub stride: [usize; 2],
    /// Dilations.
    pub dilation: [usize; 2],
    /// Resolved padding (top and left are used, as in TFLite).
    pub pad: ExplicitPadding,
    /// Channel groups (`c` for depthwise).
    pub groups: usize,
    /// OHWI weights `[cout, kh, kw, c / groups]`.
    pub weights: Vec<i32>,
    /// Per-output-channel weight zero points (zeros for TFLite).
    pub weight_zp: Vec<i32>,
    /// Bias per output channel (already in accumulator units).
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

impl ConvParams {
    fn finish(&self, acc: i64, co: usize, arith: &Arithmetic) -> i32 {
        let v = requantize(acc, self.multipliers[co], self.requant, arith);
        v.saturating_add(self.output_zp).clamp(self.act_min, self.act_max)
    }
}

/// The scalar reference convolution under any [`Arithmetic`]: the window is summed in
/// (ky, kx, ci) order into an accumulator of `arith.acc_bits`, the bias added last.
pub fn conv_reference(p: &ConvParams, x: &[i32], arith: &Arithmetic) -> Vec<i32> {
    let [n, h, w, c] = p.input;
    let [_, oh, ow, cout] = p.output;
    let cin_g = c / p.groups;
    let cout_g = cout / p.groups;
    let [kh, kw] = p.kernel;
    let mut out = vec![0i32; n * oh * ow * cout];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for co in 0..cout {
                    let g = co / cout_g;
                    let zw = p.weight_zp[co] as i64;
                    let mut acc = 0i64;
                    for ky in 0..kh {
                        let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pad.top as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize - p.pad.left as isize;
                            if ix < 0 || ix >= w as isize {
                                continue;
                            }
                            let xbase = ((b * h + iy as usize) * w + ix as usize) * c + g * cin_g;
                            let wbase = ((co * kh + ky) * kw + kx) * cin_g;
                            for ci in 0..cin_g {
                                let xv = x[xbase + ci] as i64 - p.input_zp as i64;
                                let wv = p.weights[wbase + ci] as i64 - zw;
                                acc = arith.acc_add(acc, xv * wv);
                            }
                        }
                    }
                    if let Some(bias) = &p.bias {
                        acc = arith.acc_add(acc, bias[co]);
                    }
                    out[((b * oh + oy) * ow + ox) * cout + co] = p.finish(acc, co, arith);
                }
            }
        }
    }
    out
}

/// Weights packed for the fast kernels: i16 values and per-channel sums.
#[derive(Debug, Clone)]
pub struct PackedConv {
    /// Dense: `[cout][kh*kw*c]` (OHWI as is). Depthwise (multiplier 1): `[kh*kw][c]`.
    w: Vec<i16>,
    /// Sum of each output channel's weights (dense only).
    wsum: Vec<i32>,
    /// Whether this is a depthwise layer with channel multiplier 1.
    depthwise: bool,
}

/// Whether [`conv_fast`] can run this layer bit-exactly: operands of at most 8 bits,
/// zero weight zero points, LiteRT's arithmetic, and a dense or multiplier-1 depthwise conv.
pub fn fast_supported(p: &ConvParams, input_bits: u32, weight_bits: u32, arith: &Arithmetic) -> bool {
    let [_, _, _, c] = p.input;
    let cout = p.output[3];
    arith.is_litert()
        && p.requant == Requant::Double
        && input_bits <= 8
        && weight_bits <= 8
        && p.weight_zp.iter().all(|&z| z == 0)
        && (p.groups == 1 || (p.groups == c && cout == c))
}

/// Packs the weights of a layer for [`conv_fast`].
pub fn pack(p: &ConvParams) -> PackedConv {
    let c = p.input[3];
    let cout = p.output[3];
    if p.groups == 1 {
        let k = p.weights.len() / cout.max(1);
        let w: Vec<i16> = p.weights.iter().map(|&v| v as i16).collect();
        let wsum = (0..cout).map(|co| p.weights[co * k..(co + 1) * k].iter().sum()).collect();
        PackedConv { w, wsum, depthwise: false }
    } else {
        let taps = p.kernel[0] * p.kernel[1];
        let mut w = vec![0i16; taps * c];
        for ch in 0..c {
            for t in 0..taps {
                w[t * c + ch] = p.weights[ch * taps + t] as i16;
            }
        }
        PackedConv { w, wsum: Vec::new(), depthwise: true }
    }
}

/// The fast convolution (see the module doc); identical results to [`conv_reference`]
/// whenever [`fast_supported`] holds.
pub fn conv_fast(p: &ConvParams, packed: &PackedConv, x: &[i32]) -> Vec<i32> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { conv_fast_avx2(p, packed, x) };
        }
    }
    conv_fast_portable(p, packed, x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn conv_fast_avx2(p: &ConvParams, packed: &PackedConv, x: &[i32]) -> Vec<i32> {
    conv_fast_impl(p, packed, x, true)
}

fn conv_fast_portable(p: &ConvParams, packed: &PackedConv, x: &[i32]) -> Vec<i32> {
    conv_fast_impl(p, packed, x, false)
}

/// Two patches times four weight rows with `vpmaddwd` (no saturation: each i16 x i16 pair
/// sum fits i32 for 8-bit operands), 8 accumulators; the tail is scalar.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_2x4_avx2(a0: &[i16], a1: &[i16], w: [&[i16]; 4]) -> [[i32; 4]; 2] {
    use std::arch::x86_64::*;
    let k = a0.len();
    assert!(a1.len() == k && w.iter().all(|r| r.len() == k));
    let mut acc = [[_mm256_setzero_si256(); 4]; 2];
    let k16 = k / 16 * 16;
    let mut i = 0;
    while i < k16 {
        // SAFETY: i + 16 <= k for every slice (asserted lengths above).
        let x0 = _mm256_loadu_si256(a0.as_ptr().add(i) as *const __m256i);
        let x1 = _mm256_loadu_si256(a1.as_ptr().add(i) as *const __m256i);
        for j in 0..4 {
            let wv = _mm256_loadu_si256(w[j].as_ptr().add(i) as *const __m256i);
            acc[0][j] = _mm256_add_epi32(acc[0][j], _mm256_madd_epi16(x0, wv));
            acc[1][j] = _mm256_add_epi32(acc[1][j], _mm256_madd_epi16(x1, wv));
        }
        i += 16;
    }
    let mut out = [[0i32; 4]; 2];
    for p in 0..2 {
        for j in 0..4 {
            let mut lanes = [0i32; 8];
            _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc[p][j]);
            let mut s = lanes.iter().fold(0i32, |a, &b| a.wrapping_add(b));
            let a = if p == 0 { a0 } else { a1 };
            for t in k16..k {
                s = s.wrapping_add(a[t] as i32 * w[j][t] as i32);
            }
            out[p][j] = s;
        }
    }
    out
}

#[inline(always)]
fn dot(a: &[i16], b: &[i16]) -> i32 {
    let mut s = 0i32;
    for (x, y) in a.iter().zip(b) {
        s = s.wrapping_add(*x as i32 * *y as i32);
    }
    s
}

#[inline(always)]
fn dot4(a: &[i16], w0: &[i16], w1: &[i16], w2: &[i16], w3: &[i16]) -> [i32; 4] {
    let n = a.len();
    let (w0, w1, w2, w3) = (&w0[..n], &w1[..n], &w2[..n], &w3[..n]);
    let mut s = [0i32; 4];
    for i in 0..n {
        let v = a[i] as i32;
        s[0] = s[0].wrapping_add(v * w0[i] as i32);
        s[1] = s[1].wrapping_add(v * w1[i] as i32);
        s[2] = s[2].wrapping_add(v * w2[i] as i32);
        s[3] = s[3].wrapping_add(v * w3[i] as i32);
    }
    s
}

#[inline(always)]
fn conv_fast_impl(p: &ConvParams, packed: &PackedConv, x: &[i32], avx2: bool) -> Vec<i32> {
    let [n, h, w, c] = p.input;
    let [_, oh, ow, cout] = p.output;
    let [kh, kw] = p.kernel;
    let arith = Arithmetic::default();
    let mut out = vec![0i32; n * oh * ow * cout];
    let zx = p.input_zp;
    let xi: Vec<i16> = x.iter().map(|&v| v as i16).collect();
    if packed.depthwise {
        let mut acc = vec![0i32; c];
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    acc.iter_mut().for_each(|a| *a = 0);
                    for ky in 0..kh {
                        let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pad.top as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize - p.pad.left as isize;
                            if ix < 0 || ix >= w as isize {
                                continue;
                            }
                            let xs = &xi[((b * h + iy as usize) * w + ix as usize) * c..][..c];
                            let ws = &packed.w[(ky * kw + kx) * c..][..c];
                            for ((a, &xv), &wv) in acc.iter_mut().zip(xs).zip(ws) {
                                *a = a.wrapping_add((xv as i32 - zx) * wv as i32);
                            }
                        }
                    }
                    let o = &mut out[((b * oh + oy) * ow + ox) * cout..][..cout];
                    for co in 0..c {
                        let mut a = acc[co] as i64;
                        if let Some(bias) = &p.bias {
                            a += bias[co];
                        }
                        o[co] = p.finish(a as i32 as i64, co, &arith);
                    }
                }
            }
        }
        return out;
    }
    let k = kh * kw * c;
    let pointwise = kh == 1 && kw == 1 && p.stride == [1, 1] && p.pad.top == 0 && p.pad.left == 0;
    let mut patches = [vec![zx as i16; k], vec![zx as i16; k]];
    let bias: Vec<i32> = (0..cout)
        .map(|co| {
            let b = p.bias.as_ref().map_or(0, |b| b[co] as i32);
            b.wrapping_sub(zx.wrapping_mul(packed.wsum[co]))
        })
        .collect();
    let pixels = n * oh * ow;
    let mut pix = 0;
    while pix < pixels {
        let count = (pixels - pix).min(2);
        for (slot, patch) in patches.iter_mut().enumerate().take(count) {
            let q = pix + slot;
            let (b, oy, ox) = (q / (oh * ow), (q / ow) % oh, q % ow);
            if pointwise {
                patch.copy_from_slice(&xi[((b * h + oy) * w + ox) * c..][..c]);
                continue;
            }
            for ky in 0..kh {
                let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pad.top as isize;
                for kx in 0..kw {
                    let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize - p.pad.left as isize;
                    let dst = &mut patch[(ky * kw + kx) * c..][..c];
                    if iy < 0 || iy >= h as isize || ix < 0 || ix >= w as isize {
                        dst.iter_mut().for_each(|v| *v = zx as i16);
                    } else {
                        dst.copy_from_slice(&xi[((b * h + iy as usize) * w + ix as usize) * c..][..c]);
                    }
                }
            }
        }
        let mut co = 0;
        while co + 4 <= cout {
            let rows = [
                &packed.w[co * k..][..k],
                &packed.w[(co + 1) * k..][..k],
                &packed.w[(co + 2) * k..][..k],
                &packed.w[(co + 3) * k..][..k],
            ];
            let sums: [[i32; 4]; 2] = if count == 2 && avx2 {
                #[cfg(target_arch = "x86_64")]
                {
                    // SAFETY: only reached from the AVX2 build after runtime detection.
                    unsafe { dot_2x4_avx2(&patches[0], &patches[1], rows) }
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    [dot4(&patches[0], rows[0], rows[1], rows[2], rows[3]), [0; 4]]
                }
            } else {
                let s0 = dot4(&patches[0], rows[0], rows[1], rows[2], rows[3]);
                let s1 = if count == 2 { dot4(&patches[1], rows[0], rows[1], rows[2], rows[3]) } else { [0; 4] };
                [s0, s1]
            };
            for (slot, s) in sums.iter().enumerate().take(count) {
                let o = &mut out[(pix + slot) * cout..][..cout];
                for j in 0..4 {
                    o[co + j] = p.finish(s[j].wrapping_add(bias[co + j]) as i64, co + j, &arith);
                }
            }
            co += 4;
        }
        while co < cout {
            for slot in 0..count {
                let s = dot(&patches[slot], &packed.w[co * k..][..k]);
                out[(pix + slot) * cout + co] = p.finish(s.wrapping_add(bias[co]) as i64, co, &arith);
            }
            co += 1;
        }
        pix += count;
    }
    out
}
