//! Integer 2-D convolution (dense, grouped and depthwise) in NHWC with OHWI weights,
//! matching LiteRT's reference `integer_ops/conv.h` and `depthwise_conv.h` (per-channel
//! int8 and 16x8).
//!
//! Two implementations give identical results: [`conv_reference`], a scalar loop that
//! follows the reference kernels and honours any [`Arithmetic`] (narrow accumulators,
//! saturation, other roundings), and [`conv_fast`], used for 8-bit-or-narrower operands
//! under LiteRT's arithmetic. The fast path:
//! - packs the weights once per layer ([`pack`], at executor construction): dense weights
//!   as blocks of 16 output channels x pairs of k, the layout `vpmaddwd` consumes;
//! - folds the input zero point out of the inner loop by converting the input once to
//!   `x - zx` in i16 (9 bits), so padding is 0 and borders need no correction;
//! - runs a register-tiled 6 pixels x 16 channels micro-kernel (`vpbroadcastd` of an input
//!   pair, `vpmaddwd` + `vpaddd`; never the saturating `vpmaddubsw`); 1x1 stride-1 convs are
//!   a direct GEMM over the NHWC rows, others build im2col patches one output row at a time;
//! - reads its input and writes its output as they are stored ([`Elem`]: i32, or i8 for a
//!   signed 8-bit tensor, [`conv_fast_as`]), widening in registers;
//! - runs depthwise convs on the input as it is, across channels ([`depthwise`]): each
//!   weight sits in the low 16 bits of an i32 lane with zeros above, so one `vpmaddwd`
//!   (AVX2) or `vpdpwssd` (AVX-512 VNNI, 16 lanes, fused with the requantization) forms
//!   `(x - zx) w` in every lane;
//! - requantizes a whole row at once (8 channels per AVX2 step, 16 per AVX-512 step, same
//!   double rounding);
//! - on a CPU with AVX-512 VNNI, runs dense convolutions on u8 activations and s8 weights
//!   instead (`vpdpbusd`: four u8 x s8 products per i32 lane, 8 pixels x 32 channels per
//!   tile): the input is offset into u8 and the offset's contribution, `(zx + off) sum(w)`
//!   per channel, is subtracted through the bias, so the sums are the i16 path's exactly.
//!   The i16 packing is then made only if a run's input does not fit u8 (never for 8-bit
//!   tensors), from the u8 packing;
//! - on aarch64 ([`Isa::NeonDot`], [`Isa::Neon`]), runs the same two packings with NEON:
//!   `sdot` (the dot product, runtime-detected; inline assembly) on the u8 x s8 packing with
//!   the activations read as `u ^ 0x80` (s8, the bias corrected to match), else `smlal` on
//!   the i16 packing; depthwise sums with `smlal`; rows requantized 8 channels per step with
//!   `sqrdmulh` and `srshl`, gemmlowp's two roundings bit for bit.
//!
//! i32 addition is associative, so the VNNI, AVX-512, AVX2, NEON paths (dispatched at run
//! time) and the portable paths ([`conv_fast_portable`], [`conv_fast_u8_portable`]) give identical
//! results (property-tested).

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod pack512;

use super::elem::Elem;
#[cfg(target_arch = "x86_64")]
use super::elem::OutClamp8;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use super::fixedpoint::clamp_before_zero_point;
#[cfg(target_arch = "aarch64")]
use super::fixedpoint::multiply_by_quantized_multiplier_neon;
use super::fixedpoint::{
    multiply_by_quantized_multiplier, requantize, Arithmetic, OneStep, Overflow, QuantMultiplier, Requant, Rounding,
};
#[cfg(target_arch = "x86_64")]
use super::fixedpoint::{OneStep16, OneStep8};
use crate::ir::ExplicitPadding;

/// Shapes of a convolution (NHWC input, OHWI weights), shared by the integer and float kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
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
}

impl ConvGeometry {
    /// Input row and column of tap `(ky, kx)` for output `(oy, ox)`, if inside the image.
    #[inline]
    pub fn tap(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let iy = (oy * self.stride[0] + ky * self.dilation[0]) as isize - self.pad.top as isize;
        let ix = (ox * self.stride[1] + kx * self.dilation[1]) as isize - self.pad.left as isize;
        (iy >= 0 && iy < self.input[1] as isize && ix >= 0 && ix < self.input[2] as isize)
            .then_some((iy as usize, ix as usize))
    }
}

/// Everything an integer convolution needs, resolved once per layer.
#[derive(Debug, Clone)]
pub struct ConvParams {
    /// Shapes, strides, dilations and padding.
    pub geom: ConvGeometry,
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
    /// Whether the output clamp's lower bound, before the zero point, is at or above 0: then
    /// the exact requantization step may leave out its correction of negative products
    /// ([`super::fixedpoint::OneStep::apply_floored`]), whose results the clamp raises anyway.
    #[cfg(target_arch = "x86_64")]
    fn floored(&self) -> bool {
        clamp_before_zero_point(self.act_min, self.act_max, self.output_zp).0 >= 0
    }

    fn finish(&self, acc: i64, co: usize, arith: &Arithmetic) -> i32 {
        let v = requantize(acc, self.multipliers[co], self.requant, arith);
        v.saturating_add(self.output_zp).clamp(self.act_min, self.act_max)
    }
}

/// LiteRT's hybrid (dynamic-range) convolution, dense or depthwise (`conv.cc` and
/// `depthwise_conv.cc` `EvalHybridPerChannel` on the reference kernels, and `conv.cc`
/// `EvalHybrid` for one weight scale): a float input and output, int8 weights, a float bias.
#[derive(Debug, Clone)]
pub struct HybridConvParams {
    /// Shapes, strides, dilations and padding.
    pub geom: ConvGeometry,
    /// Channel groups (`c` for depthwise).
    pub groups: usize,
    /// OHWI weights `[cout, kh, kw, c / groups]` (int8 values).
    pub weights: Vec<i32>,
    /// One weight scale per output channel (per-channel kernel), or one.
    pub weight_scales: Vec<f32>,
    /// Which of LiteRT's kernels: per channel (images quantized with a zero point) or per
    /// tensor (images quantized symmetrically, one rescale for every output).
    pub kernel: crate::ir::HybridConvKernel,
    /// Float bias per output channel.
    pub bias: Option<Vec<f32>>,
    /// The fused activation, a clamp of the float output.
    pub activation: crate::ir::Activation,
    /// Whether LiteRT runs it as DEPTHWISE_CONV_2D, whose rescale multiplies the two scales
    /// first (`acc * (weight scale * image scale)`); a dense one multiplies the accumulator by
    /// each in turn (`acc * weight scale * image scale`).
    pub depthwise: bool,
}

/// Runs the hybrid convolution: each image of the batch quantized as a whole
/// ([`super::fc::quantize_row`]: asymmetric for the per-channel kernel, symmetric for the
/// per-tensor one); each output the integer sum of `w * (q - zero point)` over the taps
/// inside the image (a padded tap adds nothing: the float 0), wrapping at 32 bits as
/// LiteRT's `int32_t` does, rescaled in float, plus the bias; then the activation's clamp.
/// The per-tensor kernel's rescale is `acc * (image scale * weight scale)`, the product
/// formed once per image (`EvalHybrid`'s scaling factor), then the bias added.
pub fn hybrid_conv(p: &HybridConvParams, x: &[f32]) -> Vec<f32> {
    let geom = &p.geom;
    let [n, _, w, c] = geom.input;
    let [_, oh, ow, cout] = geom.output;
    let [kh, kw] = geom.kernel;
    let cin_g = c / p.groups.max(1);
    let cout_g = (cout / p.groups.max(1)).max(1);
    let image = geom.input[1] * w * c;
    let mut out = vec![0f32; n * oh * ow * cout];
    let mut q = Vec::with_capacity(image);
    let per_channel = p.kernel == crate::ir::HybridConvKernel::PerChannel;
    for (b, xs) in x.chunks(image.max(1)).enumerate().take(n) {
        let (scale, zp) = super::fc::quantize_row(xs, per_channel, &mut q);
        // The per-tensor kernel's scaling factor: the image's scale times the weights'.
        let factor = scale * p.weight_scales.first().copied().unwrap_or(1.0);
        for oy in 0..oh {
            for ox in 0..ow {
                for co in 0..cout {
                    let g = co / cout_g;
                    let mut acc = 0i32;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let Some((iy, ix)) = geom.tap(oy, ox, ky, kx) else { continue };
                            let taps = &p.weights[((co * kh + ky) * kw + kx) * cin_g..][..cin_g];
                            let row = &q[(iy * w + ix) * c + g * cin_g..][..cin_g];
                            for (&wv, &qv) in taps.iter().zip(row) {
                                acc = acc.wrapping_add(wv.wrapping_mul(qv - zp));
                            }
                        }
                    }
                    let mut v = if !per_channel {
                        acc as f32 * factor
                    } else if p.depthwise {
                        acc as f32 * (p.weight_scales[co] * scale)
                    } else {
                        acc as f32 * p.weight_scales[co] * scale
                    };
                    if let Some(bias) = &p.bias {
                        v += bias[co];
                    }
                    out[((b * oh + oy) * ow + ox) * cout + co] = v;
                }
            }
        }
    }
    super::float::activate(&mut out, p.activation);
    out
}

/// The scalar reference convolution under any [`Arithmetic`]: the window is summed in
/// (ky, kx, ci) order into an accumulator of `arith.acc_bits`, the bias added last.
pub fn conv_reference(p: &ConvParams, x: &[i32], arith: &Arithmetic) -> Vec<i32> {
    let [n, h, w, c] = p.geom.input;
    let [_, oh, ow, cout] = p.geom.output;
    let cin_g = c / p.groups;
    let cout_g = cout / p.groups;
    let [kh, kw] = p.geom.kernel;
    let mut out = vec![0i32; n * oh * ow * cout];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for co in 0..cout {
                    let g = co / cout_g;
                    let zw = p.weight_zp[co] as i64;
                    let mut acc = 0i64;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let Some((iy, ix)) = p.geom.tap(oy, ox, ky, kx) else { continue };
                            let xbase = ((b * h + iy) * w + ix) * c + g * cin_g;
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

/// Output channels per packed weight block (two AVX2 registers of eight i32 lanes).
const NR: usize = 16;
/// Pixels per register tile of the micro-kernel.
const MR: usize = 6;
/// Output channels per u8 x s8 weight block (two AVX-512 registers of 16 i32 lanes).
const NR_U8: usize = 32;
/// Pixels per register tile of the u8 x s8 micro-kernel (16 accumulator registers).
const MR_U8: usize = 8;

/// Weights packed once per layer for [`conv_fast`], with the per-channel constants of
/// the requantization.
#[derive(Debug, Clone)]
pub struct PackedConv {
    kind: PackedKind,
    /// Bias per output channel as the i32 the accumulator wraps to.
    bias: Vec<i32>,
    /// Per output channel: the multiplier's left shift (the rest is in `rq`).
    left: Vec<i32>,
    /// Per output channel, for the NEON requantization: the Q31 multiplier and right shift.
    #[cfg(target_arch = "aarch64")]
    mul: Vec<i32>,
    #[cfg(target_arch = "aarch64")]
    right: Vec<i32>,
    /// The AVX-512 requantization's per-channel constants ([`Requant64`]).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    rq: Requant64,
    /// Whether the SIMD requantization applies (non-negative multipliers, shifts within 31).
    simd_requant: bool,
    /// No left shift and no narrow accumulator: the AVX-512 requantization skips both.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    plain: bool,
    /// `32 - acc_bits` for a wrapping accumulator narrower than 32 bits, else 0: the i32 sum
    /// (plus bias) shifted left and arithmetically back right by it is the narrow
    /// accumulator's value (wrapping is reduction modulo `2^acc_bits`, whichever the order).
    wrap_shift: u32,
    /// Dense weights also packed for the u8 x s8 path (`vpdpbusd`), when the CPU has
    /// AVX-512 VNNI (or always, with [`pack_u8`], for the portable u8 path's tests).
    u8_dense: Option<DenseU8>,
}

/// The AVX-512 requantization's constants ([`OneStep`]'s, from each channel's multiplier and
/// right shift), per channel in groups of 16 (the last padded with zeros), each group the 8
/// even channels' values then the 8 odd channels' (the low halves of the 64-bit lanes
/// `vpmuldq` reads).
///
/// The AVX2 requantization ([`OneStep8`]) reads the same layout eight channels at a time (the
/// even ones' four values, then the odd ones' eight further on), with `add` biased by `2^62`
/// (`add_biased`) and `unbias` per channel in channel order.
#[derive(Debug, Clone, Default)]
struct Requant64 {
    mul: Vec<i64>,
    add: Vec<i64>,
    sub: Vec<i64>,
    shift: Vec<i64>,
    #[cfg(target_arch = "x86_64")]
    add_biased: Vec<i64>,
    #[cfg(target_arch = "x86_64")]
    unbias: Vec<i32>,
}

impl Requant64 {
    /// The constants of `ms` (used only when every shift is within 31 and every multiplier
    /// non-negative: [`PackedConv::simd_requant`]).
    fn new(ms: &[QuantMultiplier]) -> Requant64 {
        let len = ms.len().div_ceil(16) * 16;
        let mut rq = Requant64 {
            mul: vec![0; len],
            add: vec![0; len],
            sub: vec![0; len],
            shift: vec![0; len],
            #[cfg(target_arch = "x86_64")]
            add_biased: vec![0; len],
            #[cfg(target_arch = "x86_64")]
            unbias: vec![0; len],
        };
        for (co, m) in ms.iter().enumerate() {
            let at = co / 16 * 16 + (co % 2) * 8 + (co % 16) / 2;
            let o = OneStep::new(m.multiplier, -m.shift);
            (rq.mul[at], rq.add[at], rq.sub[at], rq.shift[at]) = (o.mul, o.add, o.sub, o.shift);
            #[cfg(target_arch = "x86_64")]
            {
                (rq.add_biased[at], rq.unbias[co]) = (o.add_biased(), o.unbias());
            }
        }
        rq
    }

    /// The [`OneStep8`] constants of channels `co..co + 8` (`co` a multiple of 8).
    ///
    /// # Safety
    /// Only called from AVX2 code; the constants must hold the group of 16 from `co / 16 * 16`.
    /// (the caller checks: this is in the requantization's inner loop).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn step8(&self, co: usize) -> OneStep8 {
        use std::arch::x86_64::*;
        let at = co / 16 * 16 + (co % 16) / 2;
        debug_assert!(co % 8 == 0 && self.mul.len() >= at + 12);
        let pair = |v: &[i64]| {
            [_mm256_loadu_si256(v.as_ptr().add(at) as *const _), _mm256_loadu_si256(v.as_ptr().add(at + 8) as *const _)]
        };
        OneStep8 {
            mul: pair(&self.mul),
            add: pair(&self.add_biased),
            sub: pair(&self.sub),
            shift: pair(&self.shift),
            unbias: _mm256_loadu_si256(self.unbias.as_ptr().add(co) as *const _),
        }
    }
}

/// Dense weights for the u8 x s8 path: `k` padded to `4*kq`; blocks of [`NR_U8`] output
/// channels, each `[kq][NR_U8][4]` i8 (quads of consecutive k per channel, as `vpdpbusd`
/// consumes them), missing channels and k zero; `wsum[co]` the sum of channel `co`'s weights.
#[derive(Debug, Clone)]
struct DenseU8 {
    kq: usize,
    blocks: usize,
    w: Vec<i8>,
    wsum: Vec<i32>,
}

/// What the u8 x s8 GEMMs of one layer read besides the pixels: the layer, its packing and
/// requantization constants, the bias its input's offset calls for, and its dense weights.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct U8Layer<'a> {
    p: &'a ConvParams,
    pk: &'a PackedConv,
    bias: &'a [i32],
    d: &'a DenseU8,
}

/// Dense weights for the i16 path: `k = kh*kw*c` padded to `2*kp`; blocks of [`NR`] output
/// channels, each `[kp][NR][2]` (pairs of consecutive k per channel, as `vpmaddwd`
/// consumes them once widened to i16); missing channels and the odd k are zero.
#[derive(Debug, Clone)]
struct DenseI16 {
    kp: usize,
    blocks: usize,
    w: DenseW,
}

/// The weights of a [`DenseI16`]: as i8 when every one fits (half the bytes to pack, hold and
/// stream; the micro-kernels widen them), else as i16.
#[derive(Debug, Clone)]
enum DenseW {
    I8(Vec<i8>),
    I16(Vec<i16>),
}

/// A [`DenseW`] element as the micro-kernels read it: widened to i16 lanes.
trait DenseWeight: Copy + Default + Into<i32> {
    /// `v`, which the caller has checked fits this type.
    fn narrow(v: i32) -> Self;

    /// Sixteen weights from `p` as i16 lanes.
    ///
    /// # Safety
    /// AVX2 must be available (the caller is compiled with it: this is inlined into it);
    /// sixteen elements from `p` must be readable.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16_avx2(p: *const Self) -> std::arch::x86_64::__m256i;

    /// Eight weights from `p` as i16 lanes.
    ///
    /// # Safety
    /// NEON must be available (as above); eight elements from `p` must be readable.
    #[cfg(target_arch = "aarch64")]
    unsafe fn load8_neon(p: *const Self) -> std::arch::aarch64::int16x8_t;
}

impl DenseWeight for i8 {
    fn narrow(v: i32) -> Self {
        v as i8
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16_avx2(p: *const Self) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        _mm256_cvtepi8_epi16(_mm_loadu_si128(p as *const __m128i))
    }

    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn load8_neon(p: *const Self) -> std::arch::aarch64::int16x8_t {
        use std::arch::aarch64::*;
        vmovl_s8(vld1_s8(p))
    }
}

impl DenseWeight for i16 {
    fn narrow(v: i32) -> Self {
        v as i16
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16_avx2(p: *const Self) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        _mm256_loadu_si256(p as *const __m256i)
    }

    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn load8_neon(p: *const Self) -> std::arch::aarch64::int16x8_t {
        std::arch::aarch64::vld1q_s16(p)
    }
}

#[derive(Debug, Clone)]
enum PackedKind {
    /// Dense: the i16 packing, made by [`pack`] unless the u8 x s8 packing is there
    /// (`u8_dense`), and then from it the first time a run needs it ([`PackedConv::dense_i16`]).
    Dense(std::sync::OnceLock<DenseI16>),
    /// Depthwise with multiplier 1: `[kh*kw][c]`, each weight's 16 bits in the low half of
    /// an i32 and zeros in the high half (the operand of [`depthwise`]'s multiply-adds);
    /// `interior_bias[c]` is channel `c`'s bias less `zx` times the sum of its weights, the
    /// bias of a pixel whose taps are all inside the input when its sums are of `x w` rather
    /// than `(x - zx) w` (equal modulo 2^32, as every path's sums).
    /// `quad`: the same weights for [`depthwise_quad_avx512`], packed when the CPU has
    /// AVX-512 VNNI; `pairs`: for [`depthwise_pairs_avx2`], packed on x86-64 where the
    /// channels are whole blocks of 16.
    Depthwise { w: Vec<i32>, interior_bias: Vec<i32>, quad: Option<DepthwiseQuad>, pairs: Option<DepthwisePairs> },
}

/// Depthwise weights for `vpmaddwd` on two taps per i32 lane ([`depthwise_pairs_avx2`]):
/// taps `2 q` and `2 q + 1` (the last, of an odd count, with a zero weight), in blocks of 16
/// channels, each block two vectors of eight i32 lanes holding the pair's weights as i16
/// (tap `2 q` low): the first for channels 0-3 and 8-11 of the block, the second for 4-7 and
/// 12-15, the order in which `vpunpck{l,h}wd` interleave two taps' 16 widened input bytes.
/// The kernel sums `x w`; the input zero point's term is in `interior_bias`
/// ([`PackedKind::Depthwise`]), with which those pixels are requantized.
#[derive(Debug, Clone)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct DepthwisePairs {
    w: Vec<i32>,
}

/// The [`DepthwisePairs`] of weights `wt` (`[c][taps]`), where `c` is a multiple of 16 (else
/// `None`).
fn depthwise_pairs(wt: &[i32], c: usize, taps: usize) -> Option<DepthwisePairs> {
    if c % 16 != 0 || c == 0 || taps == 0 || wt.len() < c * taps {
        return None;
    }
    let blocks = c / 16;
    let weight = |ch: usize, t: usize| if t < taps { wt[ch * taps + t] } else { 0 };
    let mut w = vec![0i32; taps.div_ceil(2) * blocks * 16];
    for (q, pair) in w.chunks_exact_mut(blocks * 16).enumerate() {
        for (b, block) in pair.chunks_exact_mut(16).enumerate() {
            for (j, lane) in block.iter_mut().enumerate() {
                // Lane j of the first vector is channel j (0-3) or j + 4 (8-11); of the
                // second, j + 4 (4-7) or j + 8 (12-15).
                let i = j % 8;
                let ch = 16 * b + if j < 8 { i + 4 * (i / 4) } else { i + 4 + 4 * (i / 4) };
                let (lo, hi) = (weight(ch, 2 * q) as i16, weight(ch, 2 * q + 1) as i16);
                *lane = (lo as u16 as u32 | (hi as u16 as u32) << 16) as i32;
            }
        }
    }
    Some(DepthwisePairs { w })
}

/// Depthwise weights for `vpdpbusd` on four taps per i32 lane ([`depthwise_quad_avx512`]):
/// the taps in groups of four rows of one kernel column (group `(ky / 4) * kw + kx` holds
/// rows `ky` of `4 (ky / 4) .. + 4` at column `kx`, byte `ky % 4`; rows past the kernel's
/// have zero weights), each group in blocks of 64 channels, each block four vectors of 16
/// lanes. Lane `i` of 128-bit lane `l` of vector `j` holds channel `16 l + 4 j + i`'s four
/// weights as bytes, the order in which `vpunpck{l,h}bw` then `vpunpck{l,h}wd` interleave
/// four rows' 64 input bytes; missing channels' weights are zero. `bias[c]` is channel `c`'s
/// bias less `(zx + 128)` times the sum of its weights: the sums are of `u w` with
/// `u = x + 128` (u8) at every tap, a padding tap holding `zx + 128`.
#[derive(Debug, Clone)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct DepthwiseQuad {
    groups: usize,
    w: Vec<i8>,
    bias: Vec<i32>,
}

/// Channels per block of [`DepthwiseQuad`].
const DW_BLOCK: usize = 64;

/// Packs depthwise weights `wt` (`[c][taps]`, at most 8 bits) as [`DepthwiseQuad`] (`None`
/// when the input zero point does not fit i8: a padding tap would not fit u8).
fn depthwise_quad(wt: &[i32], c: usize, [kh, kw]: [usize; 2], bias: &[i32], zx: i32) -> Option<DepthwiseQuad> {
    let taps = kh * kw;
    if !(-128..=127).contains(&zx) {
        return None;
    }
    let groups = kh.div_ceil(4) * kw;
    let blocks = c.div_ceil(DW_BLOCK);
    let mut w = vec![0i8; groups * blocks * DW_BLOCK * 4];
    let mut qbias = Vec::with_capacity(c);
    for ch in 0..c {
        let (b, r) = (ch / DW_BLOCK, ch % DW_BLOCK);
        // Channel `16 l + 4 j + i` of the block is lane `4 l + i` of vector `j`.
        let (l, j, i) = (r / 16, (r % 16) / 4, r % 4);
        let lane = j * 16 + 4 * l + i;
        let mut sum = 0i32;
        for t in 0..taps {
            let (ky, kx) = (t / kw, t % kw);
            let v = wt[ch * taps + t];
            w[(((ky / 4 * kw + kx) * blocks + b) * DW_BLOCK + lane) * 4 + ky % 4] = v as i8;
            sum = sum.wrapping_add(v);
        }
        qbias.push(bias[ch].wrapping_sub((zx + 128).wrapping_mul(sum)));
    }
    Some(DepthwiseQuad { groups, w, bias: qbias })
}

impl PackedConv {
    /// Whether a depthwise layer's weights are packed for [`depthwise_quad_avx512`] (on a
    /// CPU with AVX-512 VNNI, weights and input zero point within i8), which runs it on an
    /// 8-bit input.
    pub fn has_depthwise_quad(&self) -> bool {
        matches!(self.kind, PackedKind::Depthwise { quad: Some(_), .. })
    }

    /// The dense i16 weights, packed from the u8 x s8 ones on first use when [`pack`] did not
    /// make them (`k` and `cout` from the layer's geometry).
    fn dense_i16<'a>(&'a self, cell: &'a std::sync::OnceLock<DenseI16>, k: usize, cout: usize) -> Option<&'a DenseI16> {
        if let Some(d) = cell.get() {
            return Some(d);
        }
        let u = self.u8_dense.as_ref()?;
        Some(cell.get_or_init(|| {
            let kp = k.div_ceil(2);
            let blocks = cout.div_ceil(NR);
            let mut w = vec![0i8; blocks * kp * NR * 2];
            for co in 0..cout {
                let (b, j) = (co / NR, co % NR);
                let (bu, ju) = (co / NR_U8, co % NR_U8);
                for kk in 0..k {
                    w[((b * kp + kk / 2) * NR + j) * 2 + kk % 2] =
                        u.w[((bu * u.kq + kk / 4) * NR_U8 + ju) * 4 + kk % 4];
                }
            }
            DenseI16 { kp, blocks, w: DenseW::I8(w) }
        }))
    }
}

/// Whether [`conv_fast`] can run this layer bit-exactly: operands of at most 8 bits,
/// zero weight zero points, LiteRT's double rounding with LiteRT's accumulator or a wrapping
/// one of any width, and a dense or multiplier-1 depthwise conv.
///
/// A wrapping accumulator of `b` bits holds the sum modulo `2^b` whatever the order of the
/// additions, and the fast kernels' i32 sums are exact modulo `2^32`: for `b <= 32` the
/// narrow value is the i32 sum wrapped to `b` bits ([`pack`] keeps the shift), for `b > 32`
/// requantization reads the low 32 bits of the accumulator, which are the i32 sum's.
pub fn fast_supported(p: &ConvParams, input_bits: u32, weight_bits: u32, arith: &Arithmetic) -> bool {
    let [_, _, _, c] = p.geom.input;
    let cout = p.geom.output[3];
    (arith.is_litert() || (arith.overflow == Overflow::Wrap && arith.rounding == Rounding::TfliteDouble))
        && p.requant == Requant::Double
        && input_bits <= 8
        && weight_bits <= 8
        && p.weight_zp.iter().all(|&z| z == 0)
        && (p.groups == 1 || (p.groups == c && cout == c))
}

/// [`fast_supported`] for these weights (`p.weights` is not read: `weights`, OHWI as the
/// graph stores them) on inputs within `input_range`: also a saturating accumulator
/// (`Overflow::Saturate`, TFLite's rounding) when it can never saturate, the fast kernels'
/// sums then being the reference's (saturation depends on the order of the additions, so
/// where it can bind only the reference's order gives its values).
pub fn fast_supported_for<W: Elem>(
    p: &ConvParams,
    weights: &[W],
    input_range: (i32, i32),
    input_bits: u32,
    weight_bits: u32,
    arith: &Arithmetic,
) -> bool {
    if arith.overflow != Overflow::Saturate || arith.rounding != Rounding::TfliteDouble {
        return fast_supported(p, input_bits, weight_bits, arith);
    }
    let wrap = Arithmetic { overflow: Overflow::Wrap, ..*arith };
    fast_supported(p, input_bits, weight_bits, &wrap) && saturation_free(p, weights, input_range, arith.acc_bits)
}

/// Whether no sum of a layer can leave an accumulator of `acc_bits` (signed): for every
/// output channel, `sum |w| * max |x - zx| + |bias|` (over inputs within `input_range`) is
/// within its range, so no partial sum in any order, nor the sum with the bias, reaches a
/// bound.
pub fn saturation_free<W: Elem>(p: &ConvParams, weights: &[W], (lo, hi): (i32, i32), acc_bits: u32) -> bool {
    if acc_bits >= 64 {
        return true;
    }
    let cout = p.geom.output[3];
    let k = p.geom.kernel[0] * p.geom.kernel[1] * (p.geom.input[3] / p.groups.max(1));
    if weights.len() < cout * k {
        return false;
    }
    let zx = i64::from(p.input_zp);
    let x = (i64::from(lo) - zx).abs().max((i64::from(hi) - zx).abs());
    let max = (1i64 << (acc_bits.max(2) - 1)) - 1;
    (0..cout).all(|co| {
        let w: i64 = weights[co * k..][..k].iter().map(|v| i64::from(v.widen()).abs()).sum();
        let b = p.bias.as_ref().map_or(0, |b| b[co].saturating_abs());
        w.saturating_mul(x).saturating_add(b) <= max
    })
}

/// Packs the weights of a layer for [`conv_fast`] on `arith` (done once, when the executor
/// is built): dense layers for the u8 x s8 path when the CPU has AVX-512 VNNI, AVX-VNNI or
/// NEON's dot product, else (or when the weights do not fit i8) for the i16 path.
pub fn pack(p: &ConvParams, arith: &Arithmetic) -> PackedConv {
    pack_weights(p, &p.weights, arith)
}

/// [`pack`] from `weights`, the layer's OHWI weights as stored (`p.weights` is not read: a
/// graph's 8-bit weights are packed from their 8 bits, never widened). `weights` must hold
/// `cout * kh * kw * c / groups` values.
pub fn pack_weights<W: Elem>(p: &ConvParams, weights: &[W], arith: &Arithmetic) -> PackedConv {
    let mut pk = pack_base(p, weights, arith);
    if vnni_available() || avx_vnni_available() || neon_dot_available() {
        pk.u8_dense = dense_u8(p, weights);
    }
    if let (PackedKind::Dense(cell), None) = (&pk.kind, &pk.u8_dense) {
        let _ = cell.set(dense_i16(p, weights));
    }
    pk
}

/// [`pack`] with the u8 x s8 weights on any CPU (for [`conv_fast_u8_portable`]); the i16
/// weights are packed from them when a run needs them.
pub fn pack_u8(p: &ConvParams, arith: &Arithmetic) -> PackedConv {
    let mut pk = pack_base(p, &p.weights, arith);
    pk.u8_dense = dense_u8(p, &p.weights);
    if let (PackedKind::Dense(cell), None) = (&pk.kind, &pk.u8_dense) {
        let _ = cell.set(dense_i16(p, &p.weights));
    }
    pk
}

/// Whether this CPU runs the AVX-512 VNNI kernels.
pub fn vnni_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU runs the AVX-VNNI kernel (256-bit `vpdpbusd`, with AVX2).
pub fn avx_vnni_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU runs the NEON dot-product kernel (`sdot`, with NEON).
pub fn neon_dot_available() -> bool {
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("neon") && std::arch::is_aarch64_feature_detected!("dotprod")
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        false
    }
}

/// Dense weights as [`DenseU8`] (`None` for grouped and depthwise layers, or weights outside
/// i8).
fn dense_u8<W: Elem>(p: &ConvParams, weights: &[W]) -> Option<DenseU8> {
    if p.groups != 1 {
        return None;
    }
    let c = p.geom.input[3];
    let cout = p.geom.output[3];
    let k = p.geom.kernel[0] * p.geom.kernel[1] * c;
    if k == 0 {
        return Some(DenseU8 { kq: 0, blocks: cout.div_ceil(NR_U8), w: Vec::new(), wsum: vec![0; cout] });
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(w8) = W::as_i8(weights).filter(|w8| w8.len() >= cout * k && vnni_available()) {
        // SAFETY: AVX-512 F/BW/VNNI were detected; `w8` holds the `cout * k` weights, k > 0.
        return Some(unsafe { pack512::dense_u8_i8(w8, k, cout) });
    }
    dense_u8_portable(weights, k, cout)
}

/// [`dense_u8`] of `cout` rows of `k > 0` weights, on any CPU.
fn dense_u8_portable<W: Elem>(weights: &[W], k: usize, cout: usize) -> Option<DenseU8> {
    let kq = k.div_ceil(4);
    let blocks = cout.div_ceil(NR_U8);
    let mut w = vec![0i8; blocks * kq * NR_U8 * 4];
    let mut wsum = Vec::with_capacity(cout);
    let (mut lo, mut hi) = (0, 0);
    // Block by block (a block is written while it stays in cache), each channel's row read in
    // order: summed (and, for weights held wider than i8, its range found) in passes that
    // vectorize, then copied a quad of k at a time (whole quads as four values: a copy of
    // `quad.len()` bytes became a `memcpy` call per quad for i8 weights).
    let stored_as_i8 = W::RANGE == (-128, 127);
    for (wb, rows) in w.chunks_exact_mut(kq * NR_U8 * 4).zip(weights.chunks(k * NR_U8)) {
        for (j, row) in rows.chunks_exact(k).enumerate() {
            wsum.push(row.iter().fold(0i32, |s, &v| s.wrapping_add(v.widen())));
            if !stored_as_i8 {
                lo = row.iter().fold(lo, |m, &v| m.min(v.widen()));
                hi = row.iter().fold(hi, |m, &v| m.max(v.widen()));
            }
            let quads = row.chunks_exact(4);
            let (tail, whole) = (quads.remainder(), k / 4);
            for (q, quad) in quads.enumerate() {
                let dst = &mut wb[(q * NR_U8 + j) * 4..][..4];
                for (d, &v) in dst.iter_mut().zip(&quad[..4]) {
                    *d = v.widen() as i8;
                }
            }
            if !tail.is_empty() {
                let dst = &mut wb[(whole * NR_U8 + j) * 4..][..tail.len()];
                for (d, &v) in dst.iter_mut().zip(tail) {
                    *d = v.widen() as i8;
                }
            }
        }
    }
    (lo >= -128 && hi <= 127 && wsum.len() == cout).then_some(DenseU8 { kq, blocks, w, wsum })
}

/// Dense weights as [`DenseI16`]: as i8 when every weight fits, else as i16.
fn dense_i16<W: Elem>(p: &ConvParams, weights: &[W]) -> DenseI16 {
    /// The layout of `k` weights per output channel for `cout` channels, in `T`.
    /// (Written in order, a pair of k from each channel of a block in turn: writing each
    /// channel's weights in turn, 32 elements apart, took twice as long.)
    fn layout<T: DenseWeight, W: Elem>(weights: &[W], k: usize, cout: usize, kp: usize) -> Vec<T> {
        let mut w = vec![T::default(); cout.div_ceil(NR) * kp * NR * 2];
        for (b, dst) in w.chunks_exact_mut(kp * NR * 2).enumerate() {
            let chans = (cout - b * NR).min(NR);
            let src = &weights[b * NR * k..][..chans * k];
            for (q, dq) in dst.chunks_exact_mut(NR * 2).take(kp).enumerate() {
                for (d, row) in dq[..chans * 2].chunks_exact_mut(2).zip(src.chunks_exact(k)) {
                    d[0] = T::narrow(row[2 * q].widen());
                    // An odd k's last pair has no second weight: it stays zero.
                    if let Some(&v) = row.get(2 * q + 1) {
                        d[1] = T::narrow(v.widen());
                    }
                }
            }
        }
        w
    }
    let c = p.geom.input[3];
    let cout = p.geom.output[3];
    let k = p.geom.kernel[0] * p.geom.kernel[1] * c;
    let kp = k.div_ceil(2);
    let blocks = cout.div_ceil(NR);
    let i8_range = |(lo, hi): (i32, i32)| lo >= -128 && hi <= 127;
    let w = if i8_range(W::RANGE)
        || i8_range(weights[..cout * k].iter().fold((0, 0), |(lo, hi), v| {
            let v = v.widen();
            (lo.min(v), hi.max(v))
        })) {
        DenseW::I8(layout(weights, k, cout, kp))
    } else {
        DenseW::I16(layout(weights, k, cout, kp))
    };
    DenseI16 { kp, blocks, w }
}

/// The per-channel constants, and depthwise weights; dense weights are left to [`pack`].
fn pack_base<W: Elem>(p: &ConvParams, weights: &[W], arith: &Arithmetic) -> PackedConv {
    let c = p.geom.input[3];
    let cout = p.geom.output[3];
    let bias = (0..cout).map(|co| p.bias.as_ref().map_or(0, |b| b[co] as i32)).collect();
    let ms = &p.multipliers[..cout];
    let mut pk = PackedConv {
        kind: PackedKind::Depthwise { w: Vec::new(), interior_bias: Vec::new(), quad: None, pairs: None },
        bias,
        left: ms.iter().map(|m| m.shift.max(0)).collect(),
        #[cfg(target_arch = "aarch64")]
        mul: ms.iter().map(|m| m.multiplier).collect(),
        #[cfg(target_arch = "aarch64")]
        right: ms.iter().map(|m| (-m.shift).max(0)).collect(),
        rq: Requant64::new(ms),
        simd_requant: ms.iter().all(|&m| OneStep::covers(m) && m.shift <= 31),
        plain: arith.acc_bits >= 32 && ms.iter().all(|m| m.shift <= 0),
        wrap_shift: if arith.acc_bits >= 32 { 0 } else { 32 - arith.acc_bits.max(2) },
        u8_dense: None,
    };
    if p.groups == 1 {
        pk.kind = PackedKind::Dense(std::sync::OnceLock::new());
        pk
    } else {
        let taps = p.geom.kernel[0] * p.geom.kernel[1];
        let mut w = vec![0i32; taps * c];
        let mut interior_bias = pk.bias.clone();
        let mut wt = Vec::with_capacity(c * taps);
        for ch in 0..c {
            let mut sum = 0i32;
            for t in 0..taps {
                // The weight's 16 bits, zero above (`fast_supported`: at most 8 bits).
                let v = weights[ch * taps + t].widen() as i16 as i32;
                w[t * c + ch] = (v as u16) as i32;
                sum = sum.wrapping_add(v);
                wt.push(v);
            }
            interior_bias[ch] = interior_bias[ch].wrapping_sub(p.input_zp.wrapping_mul(sum));
        }
        let fits_i8 = wt.iter().all(|&v| (-128..=127).contains(&v));
        let quad = (vnni_available() && fits_i8)
            .then(|| depthwise_quad(&wt, c, p.geom.kernel, &pk.bias, p.input_zp))
            .flatten();
        let pairs = cfg!(target_arch = "x86_64").then(|| depthwise_pairs(&wt, c, taps)).flatten();
        pk.kind = PackedKind::Depthwise { w, interior_bias, quad, pairs };
        pk
    }
}

/// The instruction sets the fast kernels are written for: [`conv_fast`] runs the best the
/// CPU has ([`Isa::best`]), [`conv_fast_on`] a chosen one (for the equivalence tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AMX-INT8 tiles (`tdpbusd`) for the dense u8 x s8 convolutions' groups of 32 pixels
    /// (on an i8 input as stored with `tdpbssd`), everything else as [`Isa::Avx512Vnni`].
    Amx,
    /// AVX-512 F, BW and VNNI (with AVX2): `vpdpbusd` dense convolutions on u8 x s8,
    /// `vpdpwssd` depthwise ones, 16-lane requantization.
    Avx512Vnni,
    /// AVX-VNNI (the 256-bit VEX `vpdpbusd` of CPUs without AVX-512) with AVX2: dense
    /// convolutions on u8 x s8, everything else as [`Isa::Avx2`].
    AvxVnni,
    /// AVX2: `vpmaddwd` kernels on i16 operands, 8-lane requantization.
    Avx2,
    /// aarch64 NEON with the dot-product extension (`sdot`, FEAT_DotProd): dense
    /// convolutions on the u8 x s8 packing (the activations flipped to s8 in registers),
    /// everything else as [`Isa::Neon`].
    NeonDot,
    /// aarch64 NEON: `smlal` kernels on i16 operands (dense and depthwise), 8-lane
    /// requantization with `sqrdmulh`.
    Neon,
    /// Scalar code on any CPU.
    Portable,
}

impl Isa {
    /// Every instruction set, best first.
    pub const ALL: [Isa; 7] =
        [Isa::Amx, Isa::Avx512Vnni, Isa::AvxVnni, Isa::Avx2, Isa::NeonDot, Isa::Neon, Isa::Portable];

    /// The best instruction set this CPU runs.
    pub fn best() -> Isa {
        if Isa::Amx.available() {
            Isa::Amx
        } else if vnni_available() {
            Isa::Avx512Vnni
        } else if Isa::AvxVnni.available() {
            Isa::AvxVnni
        } else if Isa::Avx2.available() {
            Isa::Avx2
        } else if Isa::NeonDot.available() {
            Isa::NeonDot
        } else if Isa::Neon.available() {
            Isa::Neon
        } else {
            Isa::Portable
        }
    }

    /// What runs on this instruction set, in a few words (`exec --show-kernels`).
    pub fn describe(self) -> &'static str {
        match self {
            Isa::Amx => "amx (AMX-INT8 tiles for dense convolutions, AVX-512 VNNI for the rest)",
            Isa::Avx512Vnni => "avx512-vnni (AVX-512 VNNI vpdpbusd kernels)",
            Isa::AvxVnni => "avx-vnni (256-bit vpdpbusd for dense convolutions, AVX2 for the rest)",
            Isa::Avx2 => "avx2 (AVX2 vpmaddwd kernels)",
            Isa::NeonDot => "neon-dot (NEON sdot for dense convolutions, NEON smlal for the rest)",
            Isa::Neon => "neon (NEON smlal kernels)",
            Isa::Portable => "portable (scalar code)",
        }
    }

    /// Whether this CPU runs the kernels of this instruction set.
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Amx => amx::available(),
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Amx => false,
            Isa::Avx512Vnni => vnni_available(),
            Isa::AvxVnni => avx_vnni_available(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 => false,
            Isa::NeonDot => neon_dot_available(),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(not(target_arch = "aarch64"))]
            Isa::Neon => false,
            Isa::Portable => true,
        }
    }
}

/// The fast convolution (see the module doc); identical results to [`conv_reference`]
/// whenever [`fast_supported`] holds. Runs on the best instruction set the CPU has.
pub fn conv_fast(p: &ConvParams, packed: &PackedConv, x: &[i32]) -> Vec<i32> {
    conv_fast_as(p, packed, x)
}

/// [`conv_fast`] reading its input and writing its output in the element types they are
/// stored in ([`Elem`]); the values are [`conv_fast`]'s.
///
/// # Panics
/// When the output's clamp range (`act_min..=act_max`) does not fit `O` (the caller chooses
/// `O` from the output tensor's type).
pub fn conv_fast_as<X: Elem, O: Elem>(p: &ConvParams, packed: &PackedConv, x: &[X]) -> Vec<O> {
    match conv_fast_on_as(Isa::best(), p, packed, x) {
        Some(out) => out,
        None => conv_fast_impl(p, packed, x, Isa::Portable),
    }
}

/// [`conv_fast`] on the given instruction set (`None` if this CPU lacks it): dense layers
/// take the u8 x s8 path on [`Isa::Amx`], [`Isa::Avx512Vnni`], [`Isa::AvxVnni`] and
/// [`Isa::NeonDot`] when their weights were packed for it and the input fits u8, else the i16
/// path.
pub fn conv_fast_on(isa: Isa, p: &ConvParams, packed: &PackedConv, x: &[i32]) -> Option<Vec<i32>> {
    conv_fast_on_as(isa, p, packed, x)
}

/// [`conv_fast_on`] in the element types the input and output are stored in, as
/// [`conv_fast_as`] (same panic).
pub fn conv_fast_on_as<X: Elem, O: Elem>(isa: Isa, p: &ConvParams, packed: &PackedConv, x: &[X]) -> Option<Vec<O>> {
    assert!(
        O::RANGE.0 <= p.act_min && p.act_max <= O::RANGE.1,
        "output range {}..={} stored in {:?}",
        p.act_min,
        p.act_max,
        O::RANGE
    );
    if !isa.available() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    match isa {
        Isa::Amx | Isa::Avx512Vnni => {
            if packed.u8_dense.is_some() {
                let gemm = if isa == Isa::Amx { U8Gemm::Amx } else { U8Gemm::Vnni };
                // SAFETY: the CPU supports AVX-512 F, BW and VNNI (and so AVX2), and AMX-INT8
                // with the tiles granted for `Isa::Amx`, checked above.
                if let Some(out) = unsafe { conv_fast_vnni(p, packed, x, gemm) } {
                    return Some(out);
                }
            }
            // SAFETY: as above.
            return Some(unsafe { conv_fast_avx512(p, packed, x) });
        }
        Isa::AvxVnni => {
            if packed.u8_dense.is_some() {
                // SAFETY: the CPU supports AVX2 and AVX-VNNI, checked above.
                if let Some(out) = unsafe { conv_fast_avx_vnni(p, packed, x) } {
                    return Some(out);
                }
            }
            // SAFETY: as above.
            return Some(unsafe { conv_fast_avx2(p, packed, x) });
        }
        // SAFETY: the CPU supports AVX2, checked above.
        Isa::Avx2 => return Some(unsafe { conv_fast_avx2(p, packed, x) }),
        // Not available on x86 (checked above).
        Isa::NeonDot | Isa::Neon | Isa::Portable => {}
    }
    #[cfg(target_arch = "aarch64")]
    match isa {
        Isa::NeonDot => {
            if packed.u8_dense.is_some() {
                // SAFETY: the CPU supports NEON and the dot product, checked above.
                if let Some(out) = unsafe { conv_fast_neon_dot(p, packed, x) } {
                    return Some(out);
                }
            }
            return Some(conv_fast_impl(p, packed, x, Isa::Neon));
        }
        Isa::Neon => return Some(conv_fast_impl(p, packed, x, Isa::Neon)),
        // Not available on aarch64 (checked above).
        Isa::Amx | Isa::Avx512Vnni | Isa::AvxVnni | Isa::Avx2 | Isa::Portable => {}
    }
    Some(conv_fast_impl(p, packed, x, Isa::Portable))
}

/// The i16 path (dense layers) and the depthwise kernel with AVX-512 (VNNI) where they have
/// one, AVX2 elsewhere.
///
/// # Safety
/// The CPU must support AVX2, AVX-512 F, BW and VNNI ([`vnni_available`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
unsafe fn conv_fast_avx512<X: Elem, O: Elem>(p: &ConvParams, packed: &PackedConv, x: &[X]) -> Vec<O> {
    conv_fast_impl(p, packed, x, Isa::Avx512Vnni)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn conv_fast_avx2<X: Elem, O: Elem>(p: &ConvParams, packed: &PackedConv, x: &[X]) -> Vec<O> {
    conv_fast_impl(p, packed, x, Isa::Avx2)
}

/// The u8 x s8 dense convolution with the NEON `sdot` micro-kernel ([`kernel_neon_dot`]),
/// requantized with NEON (see [`conv_u8_impl`]).
///
/// # Safety
/// The CPU must support NEON and the dot product ([`neon_dot_available`]).
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon,dotprod")]
unsafe fn conv_fast_neon_dot<X: Elem, O: Elem>(p: &ConvParams, packed: &PackedConv, x: &[X]) -> Option<Vec<O>> {
    conv_u8_impl(p, packed, x, U8Gemm::NeonDot)
}

/// [`conv_fast`] without SIMD intrinsics: the same algorithm with scalar micro-kernels,
/// giving identical results on every CPU (exposed for the equivalence tests).
pub fn conv_fast_portable(p: &ConvParams, packed: &PackedConv, x: &[i32]) -> Vec<i32> {
    conv_fast_impl(p, packed, x, Isa::Portable)
}

/// `MR x NR` micro-kernel: `acc[r][j] = sum_k a[r][k] * w[k][j]` over `kp` pairs of k with
/// `vpmaddwd` (i16 pairs to i32, exact for 9-bit x 8-bit operands) and i32 adds.
///
/// # Safety
/// AVX2 must be available; `a` must hold `(mr-1)*a_stride + 2*kp` elements, `w` `kp*NR*2`,
/// `acc` `(mr-1)*acc_stride + NR` (checked by the caller, [`gemm`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn kernel_avx2<const M: usize, W: DenseWeight>(
    a: *const i16,
    a_stride: usize,
    kp: usize,
    w: *const W,
    acc: *mut i32,
    acc_stride: usize,
) {
    use std::arch::x86_64::*;
    let mut c = [[_mm256_setzero_si256(); 2]; M];
    for q in 0..kp {
        let w0 = W::load16_avx2(w.add(q * 2 * NR));
        let w1 = W::load16_avx2(w.add(q * 2 * NR + NR));
        for (r, cr) in c.iter_mut().enumerate() {
            let xv = _mm256_set1_epi32((a.add(r * a_stride + 2 * q) as *const i32).read_unaligned());
            cr[0] = _mm256_add_epi32(cr[0], _mm256_madd_epi16(xv, w0));
            cr[1] = _mm256_add_epi32(cr[1], _mm256_madd_epi16(xv, w1));
        }
    }
    for (r, cr) in c.iter().enumerate() {
        _mm256_storeu_si256(acc.add(r * acc_stride) as *mut __m256i, cr[0]);
        _mm256_storeu_si256(acc.add(r * acc_stride + 8) as *mut __m256i, cr[1]);
    }
}

/// Pixels per register tile of the NEON i16 micro-kernel ([`kernel_neon`]: 3 x 8 accumulator
/// registers, four of weights).
const MR_NEON: usize = 3;

/// [`kernel_avx2`] with NEON `smlal`: `acc[r][j] = sum_k a[r][k] * w[k][j]` for `M` (at most
/// [`MR_NEON`]) pixels and the block's [`NR`] channels. A pair of k, `(x0, x1)`, is broadcast
/// as four copies; `smlal` / `smlal2` against eight i16 of the packing as stored, two channels'
/// pairs per half, add `x0 w0j, x1 w1j, x0 w0j', x1 w1j'` into four i32 lanes (exact 9-bit x
/// 8-bit products, i32 additions only), and one pairwise add of neighbouring lanes (`addp`)
/// at the end gives each channel's sum.
///
/// # Safety
/// NEON must be available; `a` must hold `(M-1)*a_stride + 2*kp` elements, `w` `kp*NR*2`,
/// `acc` `(M-1)*acc_stride + NR` (checked by the caller, [`gemm`]).
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
#[inline]
unsafe fn kernel_neon<const M: usize, W: DenseWeight>(
    a: *const i16,
    a_stride: usize,
    kp: usize,
    w: *const W,
    acc: *mut i32,
    acc_stride: usize,
) {
    use std::arch::aarch64::*;
    let mut c = [[vdupq_n_s32(0); 8]; M];
    for q in 0..kp {
        let wq = w.add(q * 2 * NR);
        let wv = [W::load8_neon(wq), W::load8_neon(wq.add(8)), W::load8_neon(wq.add(16)), W::load8_neon(wq.add(24))];
        for (r, cr) in c.iter_mut().enumerate() {
            let pair = (a.add(r * a_stride + 2 * q) as *const i32).read_unaligned();
            let xv = vreinterpretq_s16_s32(vdupq_n_s32(pair));
            for (v, &wv) in wv.iter().enumerate() {
                cr[2 * v] = vmlal_s16(cr[2 * v], vget_low_s16(xv), vget_low_s16(wv));
                cr[2 * v + 1] = vmlal_high_s16(cr[2 * v + 1], xv, wv);
            }
        }
    }
    for (r, cr) in c.iter().enumerate() {
        let o = acc.add(r * acc_stride);
        for v in 0..4 {
            vst1q_s32(o.add(4 * v), vpaddq_s32(cr[2 * v], cr[2 * v + 1]));
        }
    }
}

/// The portable micro-kernel: same sums as [`kernel_avx2`] (i32 addition is associative).
#[inline(always)]
fn kernel_portable<W: DenseWeight>(
    a: &[i16],
    a_stride: usize,
    mr: usize,
    kp: usize,
    w: &[W],
    acc: &mut [i32],
    acc_stride: usize,
) {
    for r in 0..mr {
        let ar = &a[r * a_stride..][..2 * kp];
        let mut s = [0i32; NR];
        for q in 0..kp {
            let (x0, x1) = (ar[2 * q] as i32, ar[2 * q + 1] as i32);
            let wq = &w[q * 2 * NR..][..2 * NR];
            for j in 0..NR {
                s[j] = s[j].wrapping_add(x0 * wq[2 * j].into()).wrapping_add(x1 * wq[2 * j + 1].into());
            }
        }
        acc[r * acc_stride..][..NR].copy_from_slice(&s);
    }
}

/// `acc[rows][blocks*NR] = a[rows][2kp] x w`, where row `r` of `a` starts at `r * a_stride`,
/// with the micro-kernel of `simd` (the AVX2 one for the x86 sets, NEON's for the aarch64
/// ones; `simd` must be available).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gemm<W: DenseWeight>(
    a: &[i16],
    a_stride: usize,
    rows: usize,
    kp: usize,
    w: &[W],
    blocks: usize,
    acc: &mut [i32],
    simd: Isa,
) {
    let acc_stride = blocks * NR;
    if rows == 0 {
        return;
    }
    assert!(a.len() >= (rows - 1) * a_stride + 2 * kp && w.len() >= blocks * kp * 2 * NR);
    assert!(acc.len() >= rows * acc_stride);
    let tile = match simd {
        Isa::Amx | Isa::Avx512Vnni | Isa::AvxVnni | Isa::Avx2 | Isa::Portable => MR,
        Isa::NeonDot | Isa::Neon => MR_NEON,
    };
    for b in 0..blocks {
        let wb = &w[b * kp * 2 * NR..][..kp * 2 * NR];
        let mut r = 0;
        while r < rows {
            let mr = (rows - r).min(tile);
            let ar = &a[r * a_stride..];
            let accr = &mut acc[r * acc_stride + b * NR..];
            let (ap, wp, cp) = (ar.as_ptr(), wb.as_ptr(), accr.as_mut_ptr());
            match simd {
                Isa::Amx | Isa::Avx512Vnni | Isa::AvxVnni | Isa::Avx2 => {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: the x86 sets reach here only in their builds after runtime
                    // detection (all have AVX2); the asserts above bound every access of the
                    // micro-kernel.
                    unsafe {
                        match mr {
                            6 => kernel_avx2::<6, W>(ap, a_stride, kp, wp, cp, acc_stride),
                            5 => kernel_avx2::<5, W>(ap, a_stride, kp, wp, cp, acc_stride),
                            4 => kernel_avx2::<4, W>(ap, a_stride, kp, wp, cp, acc_stride),
                            3 => kernel_avx2::<3, W>(ap, a_stride, kp, wp, cp, acc_stride),
                            2 => kernel_avx2::<2, W>(ap, a_stride, kp, wp, cp, acc_stride),
                            _ => kernel_avx2::<1, W>(ap, a_stride, kp, wp, cp, acc_stride),
                        }
                    }
                    #[cfg(not(target_arch = "x86_64"))]
                    kernel_portable(ar, a_stride, mr, kp, wb, accr, acc_stride);
                }
                Isa::NeonDot | Isa::Neon => {
                    #[cfg(target_arch = "aarch64")]
                    // SAFETY: the aarch64 sets reach here only after NEON was detected; the
                    // asserts above bound every access of the micro-kernel.
                    unsafe {
                        match mr {
                            3 => kernel_neon::<3, W>(ap, a_stride, kp, wp, cp, acc_stride),
                            2 => kernel_neon::<2, W>(ap, a_stride, kp, wp, cp, acc_stride),
                            _ => kernel_neon::<1, W>(ap, a_stride, kp, wp, cp, acc_stride),
                        }
                    }
                    #[cfg(not(target_arch = "aarch64"))]
                    kernel_portable(ar, a_stride, mr, kp, wb, accr, acc_stride);
                }
                Isa::Portable => kernel_portable(ar, a_stride, mr, kp, wb, accr, acc_stride),
            }
            r += mr;
        }
    }
}

/// Requantizes rows of accumulators (`acc_stride` apart) into `out` rows of `cout`:
/// `clamp(srdhm-double-rounding(acc + bias) + zo)`: with AVX2 (and AVX-VNNI) all rows at
/// once, sixteen then eight channels at a time ([`requant_rows_avx2`]); with AVX-512 a row at a
/// time, sixteen channels at a time, the last block masked ([`requant_row_avx512`]); with
/// NEON a row's whole groups of eight ([`requant_row_neon`]); the channels these leave, and
/// every channel on the portable path, one by one.
#[inline(always)]
fn requantize_rows<O: Elem>(
    p: &ConvParams,
    pk: &PackedConv,
    bias: &[i32],
    acc: &[i32],
    acc_stride: usize,
    out: &mut [O],
    simd: Isa,
) {
    let cout = p.geom.output[3];
    #[cfg(target_arch = "x86_64")]
    if matches!(simd, Isa::AvxVnni | Isa::Avx2) && pk.simd_requant {
        // SAFETY: AVX2 was detected by the caller (`simd`: both sets include it).
        unsafe { requant_rows_avx2(p, pk, bias, acc, acc_stride, out) };
        return;
    }
    for (o, a) in out.chunks_exact_mut(cout).zip(acc.chunks(acc_stride)) {
        let mut co = 0;
        if pk.simd_requant {
            assert!(a.len() >= cout && bias.len() >= cout && pk.left.len() >= cout);
            match simd {
                // AVX2 and AVX-VNNI took the rows at once above.
                Isa::Amx | Isa::Avx512Vnni | Isa::AvxVnni | Isa::Avx2 => {
                    #[cfg(target_arch = "x86_64")]
                    if simd == Isa::Avx512Vnni {
                        // SAFETY: AVX-512 F and BW were detected by the caller (`simd`); the
                        // lengths are asserted above.
                        unsafe { requant_row_avx512(p, pk, bias, &a[..cout], o) };
                        co = cout;
                    }
                }
                Isa::NeonDot | Isa::Neon => {
                    #[cfg(target_arch = "aarch64")]
                    {
                        // SAFETY: NEON was detected by the caller (`simd`); the lengths are
                        // asserted above.
                        co = unsafe { requant_row_neon(p, pk, bias, &a[..cout], o) };
                    }
                }
                Isa::Portable => {}
            }
        }
        requant_scalar(p, pk, bias, &a[co..cout], co, &mut o[co..]);
    }
}

/// The scalar requantization of channels `from..from + acc.len()` of one row.
#[inline(always)]
fn requant_scalar<O: Elem>(p: &ConvParams, pk: &PackedConv, bias: &[i32], acc: &[i32], from: usize, out: &mut [O]) {
    for (i, (o, &a)) in out.iter_mut().zip(acc).enumerate() {
        let co = from + i;
        let s = (a.wrapping_add(bias[co]) << pk.wrap_shift) >> pk.wrap_shift;
        let v = multiply_by_quantized_multiplier(s, p.multipliers[co]);
        *o = O::narrow(v.saturating_add(p.output_zp).clamp(p.act_min, p.act_max));
    }
}

/// [`multiply_by_quantized_multiplier`], the output zero point and the clamp on rows of
/// accumulators (`acc_stride` apart) into `out` rows of `cout`, with AVX2: sixteen channels
/// at a time, then eight, then the rest one by one. The step is [`OneStep8`] (without its
/// correction of negative products where the clamp's lower bound is at or above the zero
/// point); the clamp and zero point are [`OutClamp8`]'s.
///
/// A `target_feature` function with the loops inside: the eight lanes were an
/// `inline(always)` helper, and inlined into a caller compiled without AVX2 (the closure
/// [`requantized`] returns) every intrinsic stayed a function call; one call per row cost
/// its set-up per row (a sixth of a 16-channel row's instructions).
///
/// # Safety
/// AVX2 must be available; `pk.simd_requant`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn requant_rows_avx2<O: Elem>(
    p: &ConvParams,
    pk: &PackedConv,
    bias: &[i32],
    acc: &[i32],
    acc_stride: usize,
    out: &mut [O],
) {
    let c = p.geom.output[3];
    let rows = out.len() / c.max(1);
    assert!(pk.simd_requant && bias.len() >= c && pk.left.len() >= c && pk.rq.mul.len() >= c.div_ceil(16) * 16);
    assert!(rows == 0 || (acc.len() >= (rows - 1) * acc_stride + c && acc_stride >= c));
    let f = match (pk.plain, p.floored()) {
        (true, true) => requant_rows_avx2_with::<O, true, true>,
        (true, false) => requant_rows_avx2_with::<O, true, false>,
        (false, true) => requant_rows_avx2_with::<O, false, true>,
        (false, false) => requant_rows_avx2_with::<O, false, false>,
    };
    f(p, pk, bias, acc, acc_stride, out, rows);
}

/// [`requant_rows_avx2`]'s loops for a layer with (`PLAIN`) or without a left shift and a
/// narrow accumulator, and with (`FLOORED`) or without a clamp at or above the zero point:
/// each its own loop without branches (one loop with them kept its constants rotating
/// through registers).
///
/// # Safety
/// As [`requant_rows_avx2`], with its bounds checked.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn requant_rows_avx2_with<O: Elem, const PLAIN: bool, const FLOORED: bool>(
    p: &ConvParams,
    pk: &PackedConv,
    bias: &[i32],
    acc: &[i32],
    acc_stride: usize,
    out: &mut [O],
    rows: usize,
) {
    use std::arch::x86_64::*;
    let c = p.geom.output[3];
    let ws = _mm_cvtsi32_si128(pk.wrap_shift as i32);
    let clamp = OutClamp8::new::<O>(p.act_min, p.act_max, p.output_zp);
    let (bp, lp, rq) = (bias.as_ptr(), pk.left.as_ptr(), &pk.rq);
    let ld = |v: *const i32, co: usize| _mm256_loadu_si256(v.add(co) as *const __m256i);
    let step = |a: *const i32, co: usize| {
        let mut x = _mm256_add_epi32(ld(a, co), ld(bp, co));
        if !PLAIN {
            x = _mm256_sra_epi32(_mm256_sll_epi32(x, ws), ws);
            x = _mm256_sllv_epi32(x, ld(lp, co));
        }
        let s = rq.step8(co);
        if FLOORED {
            s.apply_floored(x)
        } else {
            s.apply(x)
        }
    };
    let sixteen = if clamp.sixteen { c / 16 * 16 } else { 0 };
    for r in 0..rows {
        let (a, o) = (acc.as_ptr().add(r * acc_stride), out.as_mut_ptr().add(r * c));
        let mut co = 0;
        while co < sixteen {
            O::store16_clamped(o.add(co), step(a, co), step(a, co + 8), &clamp);
            co += 16;
        }
        while co + 8 <= c {
            O::store8(o.add(co), clamp.apply(step(a, co)));
            co += 8;
        }
        if co < c {
            requant_scalar(
                p,
                pk,
                bias,
                &acc[r * acc_stride + co..r * acc_stride + c],
                co,
                &mut out[r * c + co..(r + 1) * c],
            );
        }
    }
}

/// [`multiply_by_quantized_multiplier`], the output zero point and the clamp on a row's whole
/// groups of eight channels with NEON, as [`requant_rows_avx2`] does with AVX2 (returns how many channels
/// it did): [`multiply_by_quantized_multiplier_neon`], then the clamp before adding `zo`.
///
/// # Safety
/// NEON must be available; `bias` and `pk`'s constants must hold `acc.len()` channels and
/// `out` at least as many.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn requant_row_neon<O: Elem>(
    p: &ConvParams,
    pk: &PackedConv,
    bias: &[i32],
    acc: &[i32],
    out: &mut [O],
) -> usize {
    use std::arch::aarch64::*;
    let c = acc.len();
    assert!(bias.len() >= c && pk.left.len() >= c && pk.mul.len() >= c && pk.right.len() >= c && out.len() >= c);
    let ld = |v: &[i32], co: usize| [vld1q_s32(v[co..co + 8].as_ptr()), vld1q_s32(v[co + 4..co + 8].as_ptr())];
    let ws = vdupq_n_s32(pk.wrap_shift as i32);
    let unws = vdupq_n_s32(-(pk.wrap_shift as i32));
    let (lo, hi) = clamp_before_zero_point(p.act_min, p.act_max, p.output_zp);
    let (lo, hi, zo) = (vdupq_n_s32(lo), vdupq_n_s32(hi), vdupq_n_s32(p.output_zp));
    let mut co = 0;
    while co + 8 <= c {
        let (x, b, left, m, right) = (ld(acc, co), ld(bias, co), ld(&pk.left, co), ld(&pk.mul, co), ld(&pk.right, co));
        let mut r = [vdupq_n_s32(0); 2];
        for h in 0..2 {
            let v = vaddq_s32(x[h], b[h]);
            let v = vshlq_s32(vshlq_s32(v, ws), unws);
            let q = multiply_by_quantized_multiplier_neon(v, left[h], m[h], right[h]);
            r[h] = vaddq_s32(vminq_s32(vmaxq_s32(q, lo), hi), zo);
        }
        O::store8_neon(out.as_mut_ptr().add(co), r[0], r[1]);
        co += 8;
    }
    co
}

/// [`requant_rows_avx2`]'s arithmetic sixteen lanes at a time on one row (`acc`, `out` and the per-channel
/// constants from channel 0; the last partial block masked).
///
/// # Safety
/// AVX-512 F and BW must be available; `bias` and `pk`'s constants must hold `acc.len()`
/// channels and `out` at least as many.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn requant_row_avx512<O: Elem>(p: &ConvParams, pk: &PackedConv, bias: &[i32], acc: &[i32], out: &mut [O]) {
    use std::arch::x86_64::*;
    let c = acc.len();
    let mut co = 0;
    while co < c {
        let k = lanes16(c, co);
        let a = _mm512_maskz_loadu_epi32(k, acc.as_ptr().add(co));
        let v = requant16_avx512(p, pk, bias, a, co, k);
        O::store16(out.as_mut_ptr().add(co), k, v);
        co += 16;
    }
}

/// The mask of the lanes of channels `from..from + 16` among `c` channels (none past `c`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lanes16(c: usize, from: usize) -> std::arch::x86_64::__mmask16 {
    match c.saturating_sub(from) {
        n if n >= 16 => 0xffff,
        n => (1u16 << n) - 1,
    }
}

/// Sixteen lanes of [`multiply_by_quantized_multiplier`] (as [`Requant64`] computes it) then
/// the output zero point and clamp, on accumulators `acc` of channels `co..` (lanes outside
/// `k` are not loaded: their results are meaningless; `co` is a multiple of 16).
///
/// # Safety
/// Only called from AVX-512 F code; `bias` must hold the channels of `k`'s lanes from `co`,
/// and `pk`'s constants the group of 16 from `co`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn requant16_avx512(
    p: &ConvParams,
    pk: &PackedConv,
    bias: &[i32],
    acc: std::arch::x86_64::__m512i,
    co: usize,
    k: std::arch::x86_64::__mmask16,
) -> std::arch::x86_64::__m512i {
    Requant16::new(p, pk, bias, co, k).apply(acc)
}

/// [`requant16_avx512`]'s constants for one group of 16 channels, loaded once for all the
/// pixels a kernel requantizes that group for (reloaded per pixel they were a third of a
/// requantization's instructions: stores through an `i8` pointer may alias anything).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Requant16 {
    bias: std::arch::x86_64::__m512i,
    /// `None` for a plain layer (no left shift, no narrow accumulator).
    narrow: Option<(std::arch::x86_64::__m128i, std::arch::x86_64::__m512i)>,
    /// The channels' [`OneStep`] constants ([`Requant64`]'s).
    step: OneStep16,
    /// Whether the clamp's lower bound (before the zero point) is at or above 0, so the step
    /// can leave out its correction of negative products ([`OneStep::apply_floored`]).
    floored: bool,
    lo: std::arch::x86_64::__m512i,
    hi: std::arch::x86_64::__m512i,
    zo: std::arch::x86_64::__m512i,
}

#[cfg(target_arch = "x86_64")]
impl Requant16 {
    /// The constants of channels `co..co + 16` (`k`'s lanes of `bias`).
    ///
    /// # Safety
    /// As [`requant16_avx512`].
    #[inline(always)]
    unsafe fn new(p: &ConvParams, pk: &PackedConv, bias: &[i32], co: usize, k: std::arch::x86_64::__mmask16) -> Self {
        use std::arch::x86_64::*;
        debug_assert!(co % 16 == 0 && pk.rq.mul.len() >= co + 16);
        let ld = |v: &[i32]| _mm512_maskz_loadu_epi32(k, v.as_ptr().add(co));
        let rq = &pk.rq;
        let pair = |v: &[i64]| {
            [_mm512_loadu_si512(v.as_ptr().add(co) as *const _), _mm512_loadu_si512(v.as_ptr().add(co + 8) as *const _)]
        };
        let (lo, hi) = clamp_before_zero_point(p.act_min, p.act_max, p.output_zp);
        Requant16 {
            bias: ld(bias),
            narrow: (!pk.plain).then(|| (_mm_cvtsi32_si128(pk.wrap_shift as i32), ld(&pk.left))),
            step: OneStep16 { mul: pair(&rq.mul), add: pair(&rq.add), sub: pair(&rq.sub), shift: pair(&rq.shift) },
            floored: p.floored(),
            lo: _mm512_set1_epi32(lo),
            hi: _mm512_set1_epi32(hi),
            zo: _mm512_set1_epi32(p.output_zp),
        }
    }

    /// The requantized outputs of accumulators `acc`.
    ///
    /// # Safety
    /// Only called from AVX-512 F code.
    #[inline(always)]
    unsafe fn apply(&self, acc: std::arch::x86_64::__m512i) -> std::arch::x86_64::__m512i {
        self.apply_biased(std::arch::x86_64::_mm512_add_epi32(acc, self.bias))
    }

    /// [`Requant16::apply`] on sums that already hold the bias (a kernel that starts its
    /// accumulators at the bias: one addition fewer per 16 outputs).
    ///
    /// # Safety
    /// Only called from AVX-512 F code.
    #[inline(always)]
    unsafe fn apply_biased(&self, mut x: std::arch::x86_64::__m512i) -> std::arch::x86_64::__m512i {
        use std::arch::x86_64::*;
        if let Some((ws, left)) = self.narrow {
            x = _mm512_sra_epi32(_mm512_sll_epi32(x, ws), ws);
            x = _mm512_sllv_epi32(x, left);
        }
        let q = if self.floored { self.step.apply_floored(x) } else { self.step.apply(x) };
        _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(q, self.lo), self.hi), self.zo)
    }
}

/// The dense convolution on u8 activations and s8 weights, the sums `vpdpbusd` computes:
/// the input is offset into u8 (`u = x + 128` for signed 8-bit data, `x` for unsigned), so
/// `sum((x - zx) w) = sum(u w) - (zx + off) sum(w)`, and that correction is folded into each
/// channel's bias (exact: the i32 sums are exact modulo 2^32, as in the i16 path). Padding
/// taps hold `zx + off` (their `x - zx` is 0). `None` when the layer is not dense, has no
/// u8 weights, or its input or zero point does not fit one offset into u8 (the caller
/// takes the i16 path then). NEON's `sdot` multiplies s8 by s8: its kernel reads `u ^ 0x80 =
/// u - 128`, so its sums are `128 sum(w)` below `sum(u w)`, and the bias's correction is
/// `(zx + off - 128) sum(w)` instead.
#[inline(always)]
fn conv_u8_impl<X: Elem, O: Elem>(p: &ConvParams, packed: &PackedConv, x: &[X], gemm: U8Gemm) -> Option<Vec<O>> {
    let d = packed.u8_dense.as_ref()?;
    let zx = p.input_zp;
    #[cfg(target_arch = "x86_64")]
    if let (U8Gemm::Amx, true, Some(x8)) = (gemm, packed.simd_requant, X::as_i8(x)) {
        let k = p.geom.kernel[0] * p.geom.kernel[1] * p.geom.input[3];
        if k % 4 == 0 && (-128..=127).contains(&zx) {
            // SAFETY: `Amx` only when AMX-INT8 was detected and granted (`Isa::Amx`).
            return Some(unsafe { conv_i8_amx(p, packed, d, x8) });
        }
    }
    // Up to three bytes past the last pixel are read by its last quad (their weights are 0).
    let (xu, off) = if X::RANGE == (-128, 127) {
        // Stored as i8: every value fits the offset of 128, no range to find (and the buffer
        // is written once, not zeroed first).
        if !(-128..=127).contains(&zx) {
            return None;
        }
        let mut xu = Vec::with_capacity(x.len() + 3);
        xu.extend(x.iter().map(|&v| (v.widen() as u8) ^ 0x80));
        xu.extend_from_slice(&[0; 3]);
        (xu, 128)
    } else {
        let mut xu = vec![0u8; x.len() + 3];
        // One pass converts for signed 8-bit data (the common case) and finds the range.
        let (mut lo, mut hi) = (zx, zx);
        for (d, &v) in xu.iter_mut().zip(x) {
            let v = v.widen();
            *d = v.wrapping_add(128) as u8;
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo >= -128 && hi <= 127 {
            (xu, 128)
        } else if lo >= 0 && hi <= 255 {
            xu.iter_mut().zip(x).for_each(|(d, &v)| *d = v.widen() as u8);
            (xu, 0)
        } else {
            return None;
        }
    };
    let cout = p.geom.output[3];
    let (kq, blocks) = (d.kq, d.blocks);
    let pad = (zx + off) as u8;
    let shift = match gemm {
        U8Gemm::NeonDot => zx + off - 128,
        U8Gemm::Portable | U8Gemm::Vnni | U8Gemm::Amx | U8Gemm::AvxVnni => zx + off,
    };
    let bias: Vec<i32> = (0..cout).map(|co| packed.bias[co].wrapping_sub(shift.wrapping_mul(d.wsum[co]))).collect();
    let shape = DenseShape { depth: 4 * kq, mr: MR_U8, acc_stride: blocks * NR_U8 };
    #[cfg(target_arch = "x86_64")]
    if matches!(gemm, U8Gemm::Vnni | U8Gemm::Amx) && packed.simd_requant {
        let amx = gemm == U8Gemm::Amx;
        // With tiles, chunks of whole groups of pixels (a chunk's remainder runs on the VNNI
        // kernel).
        let shape = if amx { DenseShape { mr: amx::GROUP, ..shape } } else { shape };
        let gemm = |a: &[u8], a_stride, rows, o: &mut [O]| {
            // SAFETY: `simd` is only true in the VNNI build after runtime detection, `amx`
            // only when AMX-INT8 was detected and granted (`Isa::Amx`).
            unsafe { gemm_u8_vnni_requant(&U8Layer { p, pk: packed, bias: &bias, d }, a, a_stride, rows, o, amx) }
        };
        return Some(dense_conv(p, &xu, pad, shape, gemm));
    }
    let isa = match gemm {
        U8Gemm::Vnni | U8Gemm::Amx => Isa::Avx512Vnni,
        U8Gemm::AvxVnni => Isa::Avx2,
        U8Gemm::NeonDot => Isa::Neon,
        U8Gemm::Portable => Isa::Portable,
    };
    let fill = |a: &[u8], a_stride, rows, acc: &mut [i32]| gemm_u8(a, a_stride, rows, kq, &d.w, blocks, acc, gemm);
    Some(dense_conv(p, &xu, pad, shape, requantized(p, packed, &bias, shape, isa, fill)))
}

/// The dense convolution of [`conv_u8_impl`] on AMX tiles reading an 8-bit input as stored:
/// `tdpbssd` (s8 x s8) sums `x w`, and `sum((x - zx) w) = sum(x w) - zx sum(w)` goes into the
/// bias, so no pass offsets the input into u8 first. The pixels past the last group of 32
/// (the VNNI kernel's, which is u8 x s8) are offset into a small buffer and run with the u8
/// path's bias. `k` (the patch depth) must be a multiple of 4, so the tiles' rows, `k` bytes,
/// end where the input's rows do.
///
/// # Safety
/// The CPU must support AMX-INT8 with the tiles granted and AVX-512 F, BW and VNNI;
/// `pk.simd_requant`, `zx` within i8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
unsafe fn conv_i8_amx<O: Elem>(p: &ConvParams, pk: &PackedConv, d: &DenseU8, x: &[i8]) -> Vec<O> {
    let cout = p.geom.output[3];
    let zx = p.input_zp;
    let (kq, blocks) = (d.kq, d.blocks);
    let bias_s: Vec<i32> = (0..cout).map(|co| pk.bias[co].wrapping_sub(zx.wrapping_mul(d.wsum[co]))).collect();
    let bias_u: Vec<i32> = (0..cout).map(|co| pk.bias[co].wrapping_sub((zx + 128).wrapping_mul(d.wsum[co]))).collect();
    // Chunks of whole groups of pixels (a chunk's remainder runs on the VNNI kernel).
    let shape = DenseShape { depth: 4 * kq, mr: amx::GROUP, acc_stride: blocks * NR_U8 };
    // The i8 bytes as stored (`u8` only as the tiles' operand type: `tdpbssd` reads them signed).
    let xa = std::slice::from_raw_parts(x.as_ptr() as *const u8, x.len());
    let mut tail = Vec::new();
    let gemm = |a: &[u8], a_stride: usize, rows: usize, o: &mut [O]| {
        let done = amx::gemm_requant(&U8Layer { p, pk, bias: &bias_s, d }, a, a_stride, rows, o, true);
        if done < rows {
            // The rows left, offset into u8 (`x ^ 0x80`) for the VNNI kernel, each padded to
            // whole quads.
            tail.clear();
            for r in done..rows {
                tail.extend(a[r * a_stride..][..4 * kq].iter().map(|&b| b ^ 0x80));
            }
            let o = &mut o[done * cout..];
            gemm_u8_vnni_requant(&U8Layer { p, pk, bias: &bias_u, d }, &tail, 4 * kq, rows - done, o, false);
        }
    };
    dense_conv(p, xa, zx as i8 as u8, shape, gemm)
}

/// Which kernels run the u8 x s8 GEMM of [`conv_u8_impl`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum U8Gemm {
    /// Scalar micro-kernels.
    Portable,
    /// The AVX-512 VNNI micro-kernel.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Vnni,
    /// AMX-INT8 tiles for whole groups of pixels, the VNNI micro-kernel for the rest.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Amx,
    /// The AVX-VNNI micro-kernel (256-bit), requantized with AVX2.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    AvxVnni,
    /// The NEON `sdot` micro-kernel (on `u ^ 0x80`, s8 x s8), requantized with NEON.
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    NeonDot,
}

/// The u8 x s8 dense convolution with the AVX-512 VNNI micro-kernel, or AMX tiles (see
/// [`conv_u8_impl`]).
///
/// # Safety
/// The CPU must support AVX2, AVX-512 F, BW and VNNI ([`vnni_available`]), and for
/// [`U8Gemm::Amx`] AMX-INT8 with the tiles granted ([`Isa::Amx`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
unsafe fn conv_fast_vnni<X: Elem, O: Elem>(
    p: &ConvParams,
    packed: &PackedConv,
    x: &[X],
    gemm: U8Gemm,
) -> Option<Vec<O>> {
    conv_u8_impl(p, packed, x, gemm)
}

/// The u8 x s8 dense convolution with the AVX-VNNI micro-kernel (see [`conv_u8_impl`]).
///
/// # Safety
/// The CPU must support AVX2 and AVX-VNNI ([`avx_vnni_available`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn conv_fast_avx_vnni<X: Elem, O: Elem>(p: &ConvParams, packed: &PackedConv, x: &[X]) -> Option<Vec<O>> {
    conv_u8_impl(p, packed, x, U8Gemm::AvxVnni)
}

/// The u8 x s8 path with scalar micro-kernels on any CPU: the same sums as the VNNI kernels
/// and so the same results as [`conv_reference`] (exposed for the equivalence tests; `None`
/// where [`conv_fast`] would not take the u8 path).
pub fn conv_fast_u8_portable(p: &ConvParams, packed: &PackedConv, x: &[i32]) -> Option<Vec<i32>> {
    conv_fast_u8_portable_as(p, packed, x)
}

/// [`conv_fast_u8_portable`] in the element types the input and output are stored in, as
/// [`conv_fast_as`] (same panic).
pub fn conv_fast_u8_portable_as<X: Elem, O: Elem>(p: &ConvParams, packed: &PackedConv, x: &[X]) -> Option<Vec<O>> {
    assert!(O::RANGE.0 <= p.act_min && p.act_max <= O::RANGE.1, "output range does not fit {:?}", O::RANGE);
    conv_u8_impl(p, packed, x, U8Gemm::Portable)
}

/// `MR_U8 x NR_U8` micro-kernel: `acc[r][j] = sum_k a[r][k] * w[k][j]` over `kq` quads of k
/// with `vpdpbusd` (u8 x s8, four products summed into each i32 lane, no saturation).
///
/// # Safety
/// AVX-512 F and VNNI must be available; `a` must hold `(M-1)*a_stride + 4*kq` bytes, `w`
/// `kq*NR_U8*4`, `acc` `(M-1)*acc_stride + NR_U8` (checked by the caller, [`gemm_u8`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
#[inline]
unsafe fn kernel_vnni<const M: usize>(
    a: *const u8,
    a_stride: usize,
    kq: usize,
    w: *const i8,
    acc: *mut i32,
    acc_stride: usize,
) {
    use std::arch::x86_64::*;
    let c = vnni_sums::<M>(a, a_stride, kq, w);
    for (r, cr) in c.iter().enumerate() {
        _mm512_storeu_si512(acc.add(r * acc_stride) as *mut _, cr[0]);
        _mm512_storeu_si512(acc.add(r * acc_stride + 16) as *mut _, cr[1]);
    }
}

/// Pixels per tile of [`kernel_avx_vnni`]: three pixels' four vectors of sums, their three
/// broadcast inputs and one vector of weights fill the 16 registers of a CPU without
/// AVX-512.
const MR_AVX_VNNI: usize = 3;

/// [`kernel_vnni`] with 256-bit AVX-VNNI `vpdpbusd` (u8 x s8, four products summed into each
/// i32 lane, no saturation: the same sums): `acc[r][j]` for `M` (at most [`MR_AVX_VNNI`])
/// pixels and the block's [`NR_U8`] channels, four vectors of 8 per pixel.
///
/// # Safety
/// AVX2 and AVX-VNNI must be available; the bounds of [`kernel_vnni`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
unsafe fn kernel_avx_vnni<const M: usize>(
    a: *const u8,
    a_stride: usize,
    kq: usize,
    w: *const i8,
    acc: *mut i32,
    acc_stride: usize,
) {
    use std::arch::x86_64::*;
    let mut c = [[_mm256_setzero_si256(); 4]; M];
    for q in 0..kq {
        let xv: [__m256i; M] =
            std::array::from_fn(|r| _mm256_set1_epi32((a.add(r * a_stride + 4 * q) as *const i32).read_unaligned()));
        for j in 0..4 {
            let wj = _mm256_loadu_si256(w.add(q * 4 * NR_U8 + 32 * j) as *const _);
            for (cr, &x) in c.iter_mut().zip(&xv) {
                cr[j] = _mm256_dpbusd_avx_epi32(cr[j], x, wj);
            }
        }
    }
    for (r, cr) in c.iter().enumerate() {
        for (j, &v) in cr.iter().enumerate() {
            _mm256_storeu_si256(acc.add(r * acc_stride + 8 * j) as *mut _, v);
        }
    }
}

/// The `M x NR_U8` sums of [`kernel_vnni`] in registers (two vectors of 16 channels per
/// pixel).
///
/// # Safety
/// As [`kernel_vnni`] (inlined into its callers, which enable AVX-512 F and VNNI).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn vnni_sums<const M: usize>(
    a: *const u8,
    a_stride: usize,
    kq: usize,
    w: *const i8,
) -> [[std::arch::x86_64::__m512i; 2]; M] {
    use std::arch::x86_64::*;
    let mut c = [[_mm512_setzero_si512(); 2]; M];
    for q in 0..kq {
        let w0 = _mm512_loadu_si512(w.add(q * 4 * NR_U8) as *const _);
        let w1 = _mm512_loadu_si512(w.add(q * 4 * NR_U8 + 64) as *const _);
        for (r, cr) in c.iter_mut().enumerate() {
            let xv = _mm512_set1_epi32((a.add(r * a_stride + 4 * q) as *const i32).read_unaligned());
            cr[0] = _mm512_dpbusd_epi32(cr[0], xv, w0);
            cr[1] = _mm512_dpbusd_epi32(cr[1], xv, w1);
        }
    }
    c
}

/// [`kernel_vnni`] with the requantization in its registers: the tile's two blocks of 16
/// channels (`co..co + 32`, lanes `k`) requantized with `bias` and stored to `M` rows of
/// `out`, `out_stride` elements apart, from channel `co`.
///
/// # Safety
/// As [`kernel_vnni`], with AVX-512 BW; `out` must hold `(M-1)*out_stride + co` plus the
/// lanes of `k`, `bias` and `pk`'s constants the channels of `k`'s lanes from `co`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_vnni_requant<const M: usize, O: Elem>(
    p: &ConvParams,
    pk: &PackedConv,
    bias: &[i32],
    a: *const u8,
    a_stride: usize,
    kq: usize,
    w: *const i8,
    co: usize,
    k: [std::arch::x86_64::__mmask16; 2],
    out: *mut O,
    out_stride: usize,
) {
    let c = vnni_sums::<M>(a, a_stride, kq, w);
    let half = |h: usize| (k[h] != 0).then(|| Requant16::new(p, pk, bias, co + 16 * h, k[h]));
    let rq = [half(0), half(1)];
    for (r, cr) in c.iter().enumerate() {
        for (h, &ch) in cr.iter().enumerate() {
            if let Some(rq) = &rq[h] {
                O::store16(out.add(r * out_stride + co + 16 * h), k[h], rq.apply(ch));
            }
        }
    }
}

/// `rows` pixels' requantized outputs (`out`, `cout` per pixel) of the u8 x s8 GEMM
/// `a[rows][4kq] x w` (`l`'s dense weights, `kq` quads deep) with [`kernel_vnni_requant`]:
/// no accumulators leave the registers. With `amx`, AMX tiles do the whole groups of pixels
/// first ([`amx::gemm_requant`]).
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VNNI ([`vnni_available`]), and with `amx`
/// AMX-INT8 with the tiles granted ([`amx::available`]); `pk.simd_requant`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
unsafe fn gemm_u8_vnni_requant<O: Elem>(l: &U8Layer, a: &[u8], a_stride: usize, rows: usize, out: &mut [O], amx: bool) {
    let U8Layer { p, pk, bias, d } = *l;
    let (kq, blocks, w) = (d.kq, d.blocks, &d.w[..]);
    let cout = p.geom.output[3];
    // The pixels the tiles leave (all of them without AMX) run on the VNNI micro-kernel.
    let done = if amx && rows > 0 { amx::gemm_requant(l, a, a_stride, rows, out, false) } else { 0 };
    let rows = rows - done;
    if rows == 0 {
        return;
    }
    let (a, out) = (&a[done * a_stride..], &mut out[done * cout..]);
    assert!(a.len() >= (rows - 1) * a_stride + 4 * kq && w.len() >= blocks * kq * 4 * NR_U8);
    assert!(out.len() >= rows * cout && blocks * NR_U8 >= cout && bias.len() >= cout);
    assert!(pk.simd_requant && pk.rq.mul.len() >= cout.div_ceil(16) * 16 && pk.left.len() >= cout);
    let lanes = |from: usize| lanes16(cout, from);
    for b in 0..blocks {
        let co = b * NR_U8;
        let k = [lanes(co), lanes(co + 16)];
        let wb = w[b * kq * 4 * NR_U8..].as_ptr();
        let mut r = 0;
        while r < rows {
            let mr = (rows - r).min(MR_U8);
            let (ap, op) = (a[r * a_stride..].as_ptr(), out[r * cout..].as_mut_ptr());
            // The asserts above bound every access: `mr` rows of `a` from row `r`, the
            // block's weights, and `mr` output rows' lanes `k` from `co < cout`.
            match mr {
                8 => kernel_vnni_requant::<8, O>(p, pk, bias, ap, a_stride, kq, wb, co, k, op, cout),
                7 => kernel_vnni_requant::<7, O>(p, pk, bias, ap, a_stride, kq, wb, co, k, op, cout),
                6 => kernel_vnni_requant::<6, O>(p, pk, bias, ap, a_stride, kq, wb, co, k, op, cout),
                5 => kernel_vnni_requant::<5, O>(p, pk, bias, ap, a_stride, kq, wb, co, k, op, cout),
                4 => kernel_vnni_requant::<4, O>(p, pk, bias, ap, a_stride, kq, wb, co, k, op, cout),
                3 => kernel_vnni_requant::<3, O>(p, pk, bias, ap, a_stride, kq, wb, co, k, op, cout),
                2 => kernel_vnni_requant::<2, O>(p, pk, bias, ap, a_stride, kq, wb, co, k, op, cout),
                _ => kernel_vnni_requant::<1, O>(p, pk, bias, ap, a_stride, kq, wb, co, k, op, cout),
            }
            r += mr;
        }
    }
}

/// Pixels per register tile of the NEON `sdot` micro-kernel ([`kernel_neon_dot`]: 4 x 4
/// accumulator registers per half block).
const MR_NEON_DOT: usize = 4;

/// `$acc + sdot($w, $a[$lane])`: each i32 lane `i` of `$acc` plus the four s8 x s8 products of
/// `$w`'s bytes `4i..4i+4` with quad `$lane` of `$a` (exact, no saturation). Inline `asm!`:
/// the `vdotq_laneq_s32` intrinsic is unstable in Rust (`stdarch_neon_dotprod`). A macro, so
/// it is inline in its caller, which must enable `dotprod` (a `target_feature` function cannot
/// be `inline(always)`; as an `inline` function, one quad's `sdot`s stayed a call in the test
/// profile).
#[cfg(target_arch = "aarch64")]
macro_rules! sdot_lane {
    ($acc:expr, $w:expr, $a:expr, $lane:literal) => {{
        let mut acc: std::arch::aarch64::int32x4_t = $acc;
        std::arch::asm!(
            concat!("sdot {acc:v}.4s, {w:v}.16b, {a:v}.4b[", $lane, "]"),
            acc = inout(vreg) acc,
            w = in(vreg) $w,
            a = in(vreg) $a,
            options(pure, nomem, nostack, preserves_flags)
        );
        acc
    }};
}

/// One quad of k for [`kernel_neon_dot`]: each of the `$m` pixels' quad `$lane` of `$x` against
/// the four weight vectors (4 channels x 4 bytes each) from `$w` into accumulators `$c` (a
/// macro, as `sdot_lane!`).
#[cfg(target_arch = "aarch64")]
macro_rules! neon_dot_quad {
    ($c:ident, $x:ident, $w:expr, $m:expr, $lane:literal) => {
        for v in 0..4 {
            let wv = vld1q_s8($w.add(16 * v));
            for r in 0..$m {
                $c[r][v] = sdot_lane!($c[r][v], wv, $x[r], $lane);
            }
        }
    };
}

/// [`kernel_vnni`] with NEON `sdot` (s8 x s8, four products summed into each i32 lane, no
/// saturation): `acc[r][j]` for `M` (at most [`MR_NEON_DOT`]) pixels and the block's
/// [`NR_U8`] channels, one half of 16 channels at a time. The pixels' bytes are read as `u ^
/// 0x80 = u - 128` (s8), four quads per 16-byte load, each quad a lane of `sdot`'s
/// by-element form; the sums are the u8 x s8 ones less `128 sum(w)`, which the caller's bias
/// puts back ([`conv_u8_impl`]).
///
/// # Safety
/// NEON and the dot product must be available; the bounds of [`kernel_vnni`].
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn kernel_neon_dot<const M: usize>(
    a: *const u8,
    a_stride: usize,
    kq: usize,
    w: *const i8,
    acc: *mut i32,
    acc_stride: usize,
) {
    use std::arch::aarch64::*;
    let flip = vdupq_n_u8(0x80);
    for h in 0..2 {
        let wh = w.add(16 * 4 * h);
        let mut c = [[vdupq_n_s32(0); 4]; M];
        let mut x = [vdupq_n_s8(0); M];
        let mut q = 0;
        // Four quads per load while they are inside the row (`4 kq` bytes).
        while q + 4 <= kq {
            for (r, xr) in x.iter_mut().enumerate() {
                *xr = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(a.add(r * a_stride + 4 * q)), flip));
            }
            let wq = wh.add(q * 4 * NR_U8);
            neon_dot_quad!(c, x, wq, M, "0");
            neon_dot_quad!(c, x, wq.add(4 * NR_U8), M, "1");
            neon_dot_quad!(c, x, wq.add(8 * NR_U8), M, "2");
            neon_dot_quad!(c, x, wq.add(12 * NR_U8), M, "3");
            q += 4;
        }
        while q < kq {
            for (r, xr) in x.iter_mut().enumerate() {
                let quad = (a.add(r * a_stride + 4 * q) as *const u32).read_unaligned() ^ 0x8080_8080;
                *xr = vreinterpretq_s8_u32(vdupq_n_u32(quad));
            }
            neon_dot_quad!(c, x, wh.add(q * 4 * NR_U8), M, "0");
            q += 1;
        }
        for (r, cr) in c.iter().enumerate() {
            let o = acc.add(r * acc_stride + 16 * h);
            for (v, cv) in cr.iter().enumerate() {
                vst1q_s32(o.add(4 * v), *cv);
            }
        }
    }
}

/// The portable u8 x s8 micro-kernel: the same sums as [`kernel_vnni`].
#[inline(always)]
fn kernel_u8_portable(a: &[u8], a_stride: usize, mr: usize, kq: usize, w: &[i8], acc: &mut [i32], acc_stride: usize) {
    for r in 0..mr {
        let ar = &a[r * a_stride..][..4 * kq];
        let mut s = [0i32; NR_U8];
        for q in 0..kq {
            let xq = &ar[4 * q..4 * q + 4];
            let wq = &w[q * 4 * NR_U8..][..4 * NR_U8];
            for j in 0..NR_U8 {
                for t in 0..4 {
                    s[j] = s[j].wrapping_add(xq[t] as i32 * wq[4 * j + t] as i32);
                }
            }
        }
        acc[r * acc_stride..][..NR_U8].copy_from_slice(&s);
    }
}

/// `acc[rows][blocks*NR_U8] = a[rows][4kq] x w`, where row `r` of `a` starts at `r * a_stride`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gemm_u8(a: &[u8], a_stride: usize, rows: usize, kq: usize, w: &[i8], blocks: usize, acc: &mut [i32], gemm: U8Gemm) {
    let acc_stride = blocks * NR_U8;
    if rows == 0 {
        return;
    }
    assert!(a.len() >= (rows - 1) * a_stride + 4 * kq && w.len() >= blocks * kq * 4 * NR_U8);
    assert!(acc.len() >= rows * acc_stride);
    let tile = match gemm {
        U8Gemm::AvxVnni => MR_AVX_VNNI,
        U8Gemm::NeonDot => MR_NEON_DOT,
        U8Gemm::Portable | U8Gemm::Vnni | U8Gemm::Amx => MR_U8,
    };
    for b in 0..blocks {
        let wb = &w[b * kq * 4 * NR_U8..][..kq * 4 * NR_U8];
        let mut r = 0;
        while r < rows {
            let mr = (rows - r).min(tile);
            let ar = &a[r * a_stride..];
            let accr = &mut acc[r * acc_stride + b * NR_U8..];
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Vnni` and `Amx` only after AVX-512 VNNI was detected, `AvxVnni` after
            // AVX-VNNI was; the asserts above bound every access of the micro-kernels.
            unsafe {
                let (ap, wp, cp) = (ar.as_ptr(), wb.as_ptr(), accr.as_mut_ptr());
                match (gemm, mr) {
                    (U8Gemm::Vnni | U8Gemm::Amx, 8) => kernel_vnni::<8>(ap, a_stride, kq, wp, cp, acc_stride),
                    (U8Gemm::Vnni | U8Gemm::Amx, 7) => kernel_vnni::<7>(ap, a_stride, kq, wp, cp, acc_stride),
                    (U8Gemm::Vnni | U8Gemm::Amx, 6) => kernel_vnni::<6>(ap, a_stride, kq, wp, cp, acc_stride),
                    (U8Gemm::Vnni | U8Gemm::Amx, 5) => kernel_vnni::<5>(ap, a_stride, kq, wp, cp, acc_stride),
                    (U8Gemm::Vnni | U8Gemm::Amx, 4) => kernel_vnni::<4>(ap, a_stride, kq, wp, cp, acc_stride),
                    (U8Gemm::Vnni | U8Gemm::Amx, 3) => kernel_vnni::<3>(ap, a_stride, kq, wp, cp, acc_stride),
                    (U8Gemm::Vnni | U8Gemm::Amx, 2) => kernel_vnni::<2>(ap, a_stride, kq, wp, cp, acc_stride),
                    (U8Gemm::Vnni | U8Gemm::Amx, _) => kernel_vnni::<1>(ap, a_stride, kq, wp, cp, acc_stride),
                    (U8Gemm::AvxVnni, 3) => kernel_avx_vnni::<3>(ap, a_stride, kq, wp, cp, acc_stride),
                    (U8Gemm::AvxVnni, 2) => kernel_avx_vnni::<2>(ap, a_stride, kq, wp, cp, acc_stride),
                    (U8Gemm::AvxVnni, _) => kernel_avx_vnni::<1>(ap, a_stride, kq, wp, cp, acc_stride),
                    // Not available on x86.
                    (U8Gemm::Portable | U8Gemm::NeonDot, _) => {
                        kernel_u8_portable(ar, a_stride, mr, kq, wb, accr, acc_stride)
                    }
                }
            }
            #[cfg(target_arch = "aarch64")]
            match gemm {
                // SAFETY: `NeonDot` only after NEON and the dot product were detected; the
                // asserts above bound every access of the micro-kernel.
                U8Gemm::NeonDot => unsafe {
                    let (ap, wp, cp) = (ar.as_ptr(), wb.as_ptr(), accr.as_mut_ptr());
                    match mr {
                        4 => kernel_neon_dot::<4>(ap, a_stride, kq, wp, cp, acc_stride),
                        3 => kernel_neon_dot::<3>(ap, a_stride, kq, wp, cp, acc_stride),
                        2 => kernel_neon_dot::<2>(ap, a_stride, kq, wp, cp, acc_stride),
                        _ => kernel_neon_dot::<1>(ap, a_stride, kq, wp, cp, acc_stride),
                    }
                },
                // Not available on aarch64.
                U8Gemm::Portable | U8Gemm::Vnni | U8Gemm::Amx | U8Gemm::AvxVnni => {
                    kernel_u8_portable(ar, a_stride, mr, kq, wb, accr, acc_stride)
                }
            }
            #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
            kernel_u8_portable(ar, a_stride, mr, kq, wb, accr, acc_stride);
            r += mr;
        }
    }
}

/// The tile geometry of one dense GEMM format: `depth` operand elements per patch (k padded
/// to the format's group of 2 or 4), `mr` pixels per micro-kernel tile or group of tiles (a 1x1
/// layer's chunks of pixels are whole multiples of it), `acc_stride`
/// accumulators per pixel (the output channels padded to whole weight blocks).
#[derive(Clone, Copy)]
struct DenseShape {
    depth: usize,
    mr: usize,
    acc_stride: usize,
}

/// A dense convolution over prepared operands `xa` (NHWC, one element per input value,
/// already offset; `pad` is what a padding tap holds), shared by the i16 and the u8 formats:
/// 1x1 stride-1 convs are a direct GEMM over the NHWC rows, in chunks of pixels that stay in
/// cache; others build im2col patches a few output rows at a time. `gemm(a, a_stride, rows, o)`
/// writes `rows` pixels' requantized outputs to `o` ([`requantized`] for a GEMM that fills
/// accumulators).
#[inline(always)]
fn dense_conv<A: Copy + Default, O: Elem>(
    p: &ConvParams,
    xa: &[A],
    pad: A,
    shape: DenseShape,
    mut gemm: impl FnMut(&[A], usize, usize, &mut [O]),
) -> Vec<O> {
    let [n, h, w, c] = p.geom.input;
    let [_, oh, ow, cout] = p.geom.output;
    let [kh, kw] = p.geom.kernel;
    let k = kh * kw * c;
    let DenseShape { depth, mr, .. } = shape;
    // Every element is written (a pooled buffer needs no zeroing).
    let mut out = super::buffers::take::<O>(n * oh * ow * cout);
    let pointwise = kh == 1 && kw == 1 && p.geom.stride == [1, 1] && p.geom.pad.top == 0 && p.geom.pad.left == 0;
    if pointwise {
        let pixels = n * oh * ow;
        let row_bytes = (std::mem::size_of::<A>() * k).max(1);
        let chunk = ((32 * 1024) / row_bytes).clamp(mr, 256) / mr * mr;
        let mut r = 0;
        while r < pixels {
            let rows = (pixels - r).min(chunk);
            gemm(&xa[r * c..], c, rows, &mut out[r * cout..][..rows * cout]);
            r += rows;
        }
    } else {
        // Patches of several output rows at once, as many as make whole groups of `mr` pixels
        // (two rows of 112 for groups of 32: one row left 16 pixels to a smaller kernel), as
        // long as they stay within 256 KiB; rows run on across images (the output is
        // contiguous).
        let whole = mr.max(1) / gcd(ow, mr.max(1));
        let fit = (256 * 1024 / (ow * depth * std::mem::size_of::<A>()).max(1)).max(1);
        let per = whole.min(fit);
        let mut patches = vec![A::default(); per * ow * depth];
        let rows = n * oh;
        let mut first_row = 0;
        while first_row < rows {
            let count = per.min(rows - first_row);
            for (i, gy) in (first_row..first_row + count).enumerate() {
                let (b, oy) = (gy / oh, gy % oh);
                for ox in 0..ow {
                    for ky in 0..kh {
                        // A row of taps all inside, undilated, is one contiguous copy (a
                        // first layer's three channels per tap were a `memmove` call each).
                        let first = p.geom.tap(oy, ox, ky, 0);
                        let last = kw.checked_sub(1).and_then(|kx| p.geom.tap(oy, ox, ky, kx));
                        if let (1, Some((iy, ix)), Some(_)) = (p.geom.dilation[1], first, last) {
                            let at = (i * ow + ox) * depth + ky * kw * c;
                            copy_row(&mut patches[at..], &xa[((b * h + iy) * w + ix) * c..], kw * c);
                            continue;
                        }
                        let patch = &mut patches[(i * ow + ox) * depth..][..depth];
                        for kx in 0..kw {
                            let dst = &mut patch[(ky * kw + kx) * c..][..c];
                            match p.geom.tap(oy, ox, ky, kx) {
                                Some((iy, ix)) => dst.copy_from_slice(&xa[((b * h + iy) * w + ix) * c..][..c]),
                                None => dst.fill(pad),
                            }
                        }
                    }
                    // The padding of k to whole groups meets zero weights.
                    patches[(i * ow + ox) * depth..][k..depth].fill(A::default());
                }
            }
            let pixels = count * ow;
            gemm(&patches, depth, pixels, &mut out[first_row * ow * cout..][..pixels * cout]);
            first_row += count;
        }
    }
    out
}

/// Copies `n` elements of `src` to the front of `dst`. A short row (a first layer's three
/// taps of three channels: nine bytes) is copied as 16 elements when both slices have them,
/// in place of a `memmove` call per row (3% of a MobileNet-v1 batch); the elements past `n`
/// land where [`dense_conv`] writes later in the same patch, or in the next patch.
#[inline(always)]
fn copy_row<A: Copy>(dst: &mut [A], src: &[A], n: usize) {
    const W: usize = 16;
    if n <= W {
        if let (Some(d), Some(s)) = (dst.first_chunk_mut::<W>(), src.first_chunk::<W>()) {
            *d = *s;
            return;
        }
    }
    dst[..n].copy_from_slice(&src[..n]);
}

/// The greatest common divisor of `a` and `b` (`b` when `a` is 0).
fn gcd(mut a: usize, mut b: usize) -> usize {
    while a != 0 {
        (a, b) = (b % a, a);
    }
    b
}

/// A [`dense_conv`] GEMM from one that fills accumulators, `fill(a, a_stride, rows, acc)`
/// (`shape.acc_stride` per pixel), each pixel's row then requantized with `bias`.
#[inline(always)]
fn requantized<'a, A, O: Elem>(
    p: &'a ConvParams,
    packed: &'a PackedConv,
    bias: &'a [i32],
    shape: DenseShape,
    simd: Isa,
    mut fill: impl FnMut(&[A], usize, usize, &mut [i32]) + 'a,
) -> impl FnMut(&[A], usize, usize, &mut [O]) + 'a {
    let mut acc = Vec::new();
    move |a, a_stride, rows, o| {
        acc.resize(rows * shape.acc_stride, 0);
        fill(a, a_stride, rows, &mut acc);
        requantize_rows(p, packed, bias, &acc, shape.acc_stride, o, simd);
    }
}

/// The i16 path for dense layers, [`depthwise`] for depthwise ones.
#[inline(always)]
fn conv_fast_impl<X: Elem, O: Elem>(p: &ConvParams, packed: &PackedConv, x: &[X], simd: Isa) -> Vec<O> {
    let c = p.geom.input[3];
    let cout = p.geom.output[3];
    let [kh, kw] = p.geom.kernel;
    match &packed.kind {
        PackedKind::Depthwise { w, interior_bias, quad, pairs } => {
            #[cfg(target_arch = "x86_64")]
            if let (Isa::Avx512Vnni, true, Some(q), Some(x8)) = (simd, packed.simd_requant, quad, X::as_i8(x)) {
                // SAFETY: AVX-512 F, BW and VNNI were detected by the caller (`simd`).
                return unsafe { depthwise_quad_avx512(p, packed, q, x8) };
            }
            let _ = quad;
            depthwise(p, packed, w, interior_bias, pairs.as_ref(), x, simd)
        }
        PackedKind::Dense(cell) => {
            let d = packed.dense_i16(cell, kh * kw * c, cout).expect("pack makes the i16 or the u8 x s8 weights");
            // The input zero point is folded out once per element: the kernels see `x - zx`
            // (9 bits at most), so padding is 0 and borders need no correction.
            let zx = p.input_zp;
            let mut xi: Vec<i16> = Vec::with_capacity(x.len() + 1);
            xi.extend(x.iter().map(|&v| (v.widen() - zx) as i16));
            xi.push(0);
            let shape = DenseShape { depth: 2 * d.kp, mr: MR, acc_stride: d.blocks * NR };
            let fill = |a: &[i16], a_stride, rows, acc: &mut [i32]| match &d.w {
                DenseW::I8(w) => gemm(a, a_stride, rows, d.kp, w, d.blocks, acc, simd),
                DenseW::I16(w) => gemm(a, a_stride, rows, d.kp, w, d.blocks, acc, simd),
            };
            dense_conv(p, &xi, 0, shape, requantized(p, packed, &packed.bias, shape, simd, fill))
        }
    }
}

/// Depthwise convolution with multiplier 1 on the input as it is stored, one output row at a
/// time, across channels. Each weight holds its 16 bits in the low half of an i32 lane and
/// zeros above, and `x - zx` fits i16 (operands of at most 8 bits), so the lane's two i16
/// products that `vpmaddwd` / `vpdpwssd` add are `(x - zx) w` and `sign(x - zx) * 0`: the
/// product itself, summed exactly (modulo 2^32, as every path's sums).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn depthwise<X: Elem, O: Elem>(
    p: &ConvParams,
    pk: &PackedConv,
    wd: &[i32],
    interior_bias: &[i32],
    pairs: Option<&DepthwisePairs>,
    x: &[X],
    simd: Isa,
) -> Vec<O> {
    let [n, h, w, c] = p.geom.input;
    let [_, oh, ow, _] = p.geom.output;
    let [kh, kw] = p.geom.kernel;
    assert!(x.len() >= n * h * w * c && wd.len() >= kh * kw * c);
    assert!(pk.bias.len() >= c && pk.left.len() >= c);
    assert!(interior_bias.len() >= c);
    // Every element is written (a pooled buffer needs no zeroing).
    let mut out = super::buffers::take::<O>(n * oh * ow * c);
    // Without the fused AVX-512 pixel kernel, a whole output row's sums are requantized at
    // once (one requantization's set-up per row, not per pixel).
    let fused = cfg!(target_arch = "x86_64") && simd == Isa::Avx512Vnni && pk.simd_requant;
    let mut acc = vec![0i32; if fused { 0 } else { ow * c }];
    let mut taps: Vec<(usize, usize)> = Vec::with_capacity(kh * kw);
    // The AVX2 kernel on pairs of taps, for a row's pixels whose taps are all inside.
    #[cfg(target_arch = "x86_64")]
    let paired = match (pairs, X::as_i8(x)) {
        (Some(pr), Some(x8)) if !fused && matches!(simd, Isa::Avx512Vnni | Isa::Avx2) => Some((pr, x8)),
        _ => None,
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = pairs;
    let valid_taps = |taps: &mut Vec<(usize, usize)>, b: usize, oy: usize, ox: usize| {
        // The valid taps: (input offset, weight offset).
        taps.clear();
        for ky in 0..kh {
            for kx in 0..kw {
                if let Some((iy, ix)) = p.geom.tap(oy, ox, ky, kx) {
                    taps.push((((b * h + iy) * w + ix) * c, (ky * kw + kx) * c));
                }
            }
        }
    };
    for b in 0..n {
        for oy in 0..oh {
            let row = &mut out[(b * oh + oy) * ow * c..][..ow * c];
            #[allow(unused_mut)]
            let mut inside = 0..0;
            #[cfg(target_arch = "x86_64")]
            if let Some((pr, x8)) = paired {
                inside = interior_columns(&p.geom, oy);
                if !inside.is_empty() {
                    valid_taps(&mut taps, b, oy, inside.start);
                    assert!(taps.len() == kh * kw, "every tap of an interior pixel is inside");
                    let pixels = inside.len();
                    let step = p.geom.stride[1] * c;
                    // The last pixel's taps lie inside `x` (each a valid tap).
                    assert!(taps.iter().all(|&(xo, _)| xo + (pixels - 1) * step + c <= x8.len()));
                    // SAFETY: AVX2 was detected by the caller (`simd`); the taps of every pixel
                    // hold `c` values inside `x8` (asserted above) and the pairs every tap's
                    // weights for `c` channels.
                    unsafe {
                        depthwise_pairs_avx2(&taps, x8, pr, pixels, step, &mut acc[inside.start * c..][..pixels * c])
                    };
                }
            }
            for ox in (0..ow).filter(|ox| !inside.contains(ox)) {
                valid_taps(&mut taps, b, oy, ox);
                match simd {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: AVX-512 F, BW and VNNI were detected by the caller (`simd`); the
                    // taps lie inside `x` and `wd` and the constants hold `c` channels
                    // (asserted above).
                    Isa::Avx512Vnni if fused => unsafe {
                        let o = &mut row[ox * c..][..c];
                        // A pixel whose taps are all inside sums `x w`, its zero point's term in
                        // the bias; a border pixel `(x - zx) w`.
                        if taps.len() == kh * kw {
                            depthwise_pixel_avx512::<X, O, false>(p, pk, interior_bias, &taps, x, wd, o)
                        } else {
                            depthwise_pixel_avx512::<X, O, true>(p, pk, &pk.bias, &taps, x, wd, o)
                        }
                    },
                    Isa::Amx | Isa::Avx512Vnni | Isa::AvxVnni | Isa::Avx2 => {
                        let acc = &mut acc[ox * c..][..c];
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: AVX2 was detected by the caller (`simd`: every x86 set has
                        // it); bounds as above.
                        unsafe {
                            depthwise_acc_avx2(p.input_zp, &taps, x, wd, acc)
                        };
                        #[cfg(not(target_arch = "x86_64"))]
                        depthwise_acc_portable(p.input_zp, &taps, x, wd, acc);
                    }
                    Isa::NeonDot | Isa::Neon => {
                        let acc = &mut acc[ox * c..][..c];
                        #[cfg(target_arch = "aarch64")]
                        // SAFETY: NEON was detected by the caller (`simd`); bounds as above.
                        unsafe {
                            depthwise_acc_neon(p.input_zp, &taps, x, wd, acc)
                        };
                        #[cfg(not(target_arch = "aarch64"))]
                        depthwise_acc_portable(p.input_zp, &taps, x, wd, acc);
                    }
                    Isa::Portable => depthwise_acc_portable(p.input_zp, &taps, x, wd, &mut acc[ox * c..][..c]),
                }
            }
            if !fused {
                // The interior run's sums are of `x w` (their zero point's term in
                // `interior_bias`), the border pixels' of `(x - zx) w`.
                let (left, rest) = row.split_at_mut(inside.start * c);
                let (mid, right) = rest.split_at_mut(inside.len() * c);
                requantize_rows(p, pk, &pk.bias, &acc[..left.len()], c, left, simd);
                requantize_rows(p, pk, interior_bias, &acc[left.len()..][..mid.len()], c, mid, simd);
                requantize_rows(p, pk, &pk.bias, &acc[left.len() + mid.len()..], c, right, simd);
            }
        }
    }
    out
}

/// One pixel of [`depthwise`] with `vpdpwssd`, 64 channels per step in four independent
/// accumulator chains (the last step's blocks masked to the channels left, so narrow layers
/// keep four chains too), each block requantized in its register with `bias` and stored.
/// With `OFFSET` the sums are of `(x - zx) w`, without of `x w` (for a pixel with every tap
/// inside, `bias` then holds the zero point's term).
///
/// # Safety
/// AVX-512 F, BW and VNNI must be available; every tap `(xo, wo)` must have `out.len()`
/// values from `xo` in `x` and from `wo` in `wd`; `bias` and `pk`'s constants must hold
/// `out.len()` channels.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn depthwise_pixel_avx512<X: Elem, O: Elem, const OFFSET: bool>(
    p: &ConvParams,
    pk: &PackedConv,
    bias: &[i32],
    taps: &[(usize, usize)],
    x: &[X],
    wd: &[i32],
    out: &mut [O],
) {
    use std::arch::x86_64::*;
    let c = out.len();
    let zx = _mm512_set1_epi32(p.input_zp);
    let (xp, wp, op) = (x.as_ptr(), wd.as_ptr(), out.as_mut_ptr());
    let lanes = |from: usize| lanes16(c, from);
    // Masked-off lanes are not accessed, so a block's address may lie past the slices'
    // ends (formed with `wrapping_add`, never dereferenced there).
    let mut ch = 0;
    while ch < c {
        let k = [lanes(ch), lanes(ch + 16), lanes(ch + 32), lanes(ch + 48)];
        let mut a = [_mm512_setzero_si512(); 4];
        for &(xo, wo) in taps {
            for (j, aj) in a.iter_mut().enumerate() {
                let mut xv = X::load16(xp.wrapping_add(xo + ch + 16 * j), k[j]);
                if OFFSET {
                    xv = _mm512_sub_epi32(xv, zx);
                }
                let wv = _mm512_maskz_loadu_epi32(k[j], wp.wrapping_add(wo + ch + 16 * j));
                *aj = _mm512_dpwssd_epi32(*aj, xv, wv);
            }
        }
        for (j, aj) in a.iter().enumerate() {
            if k[j] != 0 {
                let v = requant16_avx512(p, pk, bias, *aj, ch + 16 * j, k[j]);
                O::store16(op.wrapping_add(ch + 16 * j), k[j], v);
            }
        }
        ch += 64;
    }
}

/// Depthwise convolution with multiplier 1 on an 8-bit input with `vpdpbusd`, four taps per
/// i32 lane ([`DepthwiseQuad`]: four rows of one kernel column).
///
/// Per output row and block of 64 channels, every input column the row's pixels read is
/// first made into column quads: the four input rows of a group of kernel rows, offset into
/// u8 as loaded (`u = x + 128`; rows and columns outside the input read `zx`, so `zx + 128`),
/// their bytes interleaved by eight unpacks into four vectors of 16 channels. A pixel then
/// sums, per group and kernel column, the quads of its column with one `vpdpbusd` per
/// vector and no shuffles: the interleave of a column is shared by the pixels that read it
/// (three, for a 3x3 kernel at stride 1), where each pixel used to interleave its own nine
/// taps. The four accumulators, channels in the unpacks' order, are put back in channel
/// order by a 4x4 transpose of their 128-bit lanes, requantized in registers and stored. The
/// sums are exact modulo 2^32, as every path's, and every pixel sums over all its taps (the
/// offset's term and the padding are in the bias).
///
/// # Safety
/// AVX-512 F, BW and VNNI must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn depthwise_quad_avx512<O: Elem>(p: &ConvParams, pk: &PackedConv, q: &DepthwiseQuad, x: &[i8]) -> Vec<O> {
    use std::arch::x86_64::*;
    let [n, h, w, c] = p.geom.input;
    let [_, oh, ow, _] = p.geom.output;
    let [kh, kw] = p.geom.kernel;
    let [sy, sx] = p.geom.stride;
    let [dy, dx] = p.geom.dilation;
    let rows = kh.div_ceil(4); // groups of four kernel rows
    let blocks = c.div_ceil(DW_BLOCK);
    assert!(x.len() >= n * h * w * c && q.groups == rows * kw && q.w.len() >= q.groups * blocks * DW_BLOCK * 4);
    assert!(q.bias.len() >= c && pk.left.len() >= c);
    assert!(pk.rq.mul.len() >= c.div_ceil(16) * 16);
    let mut out = super::buffers::take::<O>(n * oh * ow * c);
    if out.is_empty() {
        return out;
    }
    // Columns a row's pixels read, from the first pixel's first tap (`ix = -pad.left`).
    let cols = (ow - 1) * sx + (kw - 1) * dx + 1;
    let pl = p.geom.pad.left as isize;
    // Column quads of one output row and block: `[rows][cols][4 vectors of 64 bytes]`.
    let mut quads = vec![0u8; rows * cols * 256];
    let qp = quads.as_mut_ptr();
    let pad = _mm512_set1_epi8((p.input_zp as i8 ^ -128) as i8);
    let offset = _mm512_set1_epi8(-128);
    let (xp, wp) = (x.as_ptr(), q.w.as_ptr());
    for b in 0..n {
        for oy in 0..oh {
            let top = (oy * sy) as isize - p.geom.pad.top as isize;
            for blk in 0..blocks {
                let ch = blk * DW_BLOCK;
                let left = c - ch;
                let kb: __mmask64 = if left >= 64 { u64::MAX } else { (1u64 << left) - 1 };
                for g in 0..rows {
                    // Where each of the group's four input rows starts (this block's first
                    // channel), `None` for a row outside the input or past the kernel's.
                    let start = [0, 1, 2, 3].map(|r| {
                        let (ky, iy) = (4 * g + r, top + ((4 * g + r) * dy) as isize);
                        (ky < kh && iy >= 0 && (iy as usize) < h).then(|| ((b * h + iy as usize) * w) * c + ch)
                    });
                    for col in 0..cols {
                        let ix = col as isize - pl;
                        let inside = ix >= 0 && (ix as usize) < w;
                        // Row `r` at this column as u8, `pad` outside. Lanes past `c` are masked
                        // off (and offset to 128, against zero weights).
                        macro_rules! row {
                            ($r:expr) => {
                                match start[$r] {
                                    Some(at) if inside => _mm512_xor_si512(
                                        _mm512_maskz_loadu_epi8(kb, xp.add(at + ix as usize * c)),
                                        offset,
                                    ),
                                    _ => pad,
                                }
                            };
                        }
                        let (t0, t1, t2, t3) = (row!(0), row!(1), row!(2), row!(3));
                        let lo01 = _mm512_unpacklo_epi8(t0, t1);
                        let hi01 = _mm512_unpackhi_epi8(t0, t1);
                        let lo23 = _mm512_unpacklo_epi8(t2, t3);
                        let hi23 = _mm512_unpackhi_epi8(t2, t3);
                        let d = qp.add((g * cols + col) * 256);
                        _mm512_storeu_si512(d.cast(), _mm512_unpacklo_epi16(lo01, lo23));
                        _mm512_storeu_si512(d.add(64).cast(), _mm512_unpackhi_epi16(lo01, lo23));
                        _mm512_storeu_si512(d.add(128).cast(), _mm512_unpacklo_epi16(hi01, hi23));
                        _mm512_storeu_si512(d.add(192).cast(), _mm512_unpackhi_epi16(hi01, hi23));
                    }
                }
                let k = [0, 1, 2, 3].map(|l| lanes16(c, ch + 16 * l));
                // Built in place (an array `map` built them on the stack and copied them, four
                // sets of about fourteen 64-byte vectors per output row and block, with a
                // `memcpy` call once the struct grew).
                let group = |l: usize| (k[l] != 0).then(|| Requant16::new(p, pk, &q.bias, ch + 16 * l, k[l]));
                let rq = [group(0), group(1), group(2), group(3)];
                // The accumulators start at the bias, in the unpacks' channel order (the 4x4
                // transpose of 128-bit lanes below is its own inverse).
                let start = transpose_lanes128(
                    [0, 1, 2, 3]
                        .map(|l| _mm512_maskz_loadu_epi32(k[l], q.bias.as_ptr().wrapping_add(ch + 16 * l).cast())),
                );
                let op = out.as_mut_ptr().add(((b * oh + oy) * ow) * c + ch);
                for ox in 0..ow {
                    let mut a = start;
                    for g in 0..rows {
                        for kx in 0..kw {
                            let s = qp.add((g * cols + ox * sx + kx * dx) * 256) as *const u8;
                            let wg = wp.add(((g * kw + kx) * blocks + blk) * DW_BLOCK * 4);
                            for (j, aj) in a.iter_mut().enumerate() {
                                let u = _mm512_loadu_si512(s.add(64 * j).cast());
                                *aj = _mm512_dpbusd_epi32(*aj, u, _mm512_loadu_si512(wg.add(64 * j).cast()));
                            }
                        }
                    }
                    // Accumulator `j`'s 128-bit lane `l` holds channels `16 l + 4 j ..`;
                    // vector `l` of channel order is lane `l` of each accumulator in turn.
                    let [v0, v1, v2, v3] = transpose_lanes128(a);
                    // Each vector by name (a loop over the array kept it on the stack, and
                    // each requantization began by loading it back).
                    let store = |l: usize, vl| {
                        if let Some(rq) = &rq[l] {
                            O::store16(op.add(ox * c + 16 * l), k[l], rq.apply_biased(vl));
                        }
                    };
                    store(0, v0);
                    store(1, v1);
                    store(2, v2);
                    store(3, v3);
                }
            }
        }
    }
    out
}

/// The 4x4 transpose of four vectors' 128-bit lanes: lane `l` of vector `j` to lane `j` of
/// vector `l` (its own inverse).
///
/// # Safety
/// Only called from AVX-512 F code.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose_lanes128(a: [std::arch::x86_64::__m512i; 4]) -> [std::arch::x86_64::__m512i; 4] {
    use std::arch::x86_64::*;
    let t0 = _mm512_shuffle_i32x4::<0x44>(a[0], a[1]);
    let t1 = _mm512_shuffle_i32x4::<0x44>(a[2], a[3]);
    let t2 = _mm512_shuffle_i32x4::<0xEE>(a[0], a[1]);
    let t3 = _mm512_shuffle_i32x4::<0xEE>(a[2], a[3]);
    [
        _mm512_shuffle_i32x4::<0x88>(t0, t1),
        _mm512_shuffle_i32x4::<0xDD>(t0, t1),
        _mm512_shuffle_i32x4::<0x88>(t2, t3),
        _mm512_shuffle_i32x4::<0xDD>(t2, t3),
    ]
}

/// One pixel's depthwise sums into `acc` with `vpmaddwd`: 32 channels per step (four
/// accumulator chains), then 8, then the last channels one by one.
///
/// # Safety
/// AVX2 must be available; every tap `(xo, wo)` must have `acc.len()` values from `xo` in
/// `x` and from `wo` in `wd`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn depthwise_acc_avx2<X: Elem>(zx: i32, taps: &[(usize, usize)], x: &[X], wd: &[i32], acc: &mut [i32]) {
    use std::arch::x86_64::*;
    let c = acc.len();
    let z = _mm256_set1_epi32(zx);
    let (xp, wp, ap) = (x.as_ptr(), wd.as_ptr(), acc.as_mut_ptr());
    let mut ch = 0;
    while ch + 32 <= c {
        let mut a = [_mm256_setzero_si256(); 4];
        for &(xo, wo) in taps {
            for (j, aj) in a.iter_mut().enumerate() {
                let xv = _mm256_sub_epi32(X::load8(xp.add(xo + ch + 8 * j)), z);
                let wv = _mm256_loadu_si256(wp.add(wo + ch + 8 * j) as *const __m256i);
                *aj = _mm256_add_epi32(*aj, _mm256_madd_epi16(xv, wv));
            }
        }
        for (j, aj) in a.iter().enumerate() {
            _mm256_storeu_si256(ap.add(ch + 8 * j) as *mut __m256i, *aj);
        }
        ch += 32;
    }
    while ch + 8 <= c {
        let mut a = _mm256_setzero_si256();
        for &(xo, wo) in taps {
            let xv = _mm256_sub_epi32(X::load8(xp.add(xo + ch)), z);
            a = _mm256_add_epi32(a, _mm256_madd_epi16(xv, _mm256_loadu_si256(wp.add(wo + ch) as *const __m256i)));
        }
        _mm256_storeu_si256(ap.add(ch) as *mut __m256i, a);
        ch += 8;
    }
    for ch in ch..c {
        acc[ch] = taps
            .iter()
            .fold(0i32, |s, &(xo, wo)| s.wrapping_add((x[xo + ch].widen() - zx) * (wd[wo + ch] as i16 as i32)));
    }
}

/// The depthwise sums of `pixels` pixels `step` input values apart into `acc` (a multiple of
/// 16 channels each), every tap inside the input, `taps` the first pixel's: `sum (x - zx) w`,
/// as `sum x w` over pairs of taps (`vpunpck{l,h}wd` interleave the two taps' 16 widened
/// bytes, one `vpmaddwd` forms both products in each lane, exactly: at most `2 * 128 * 128`)
/// without the zero point's term, which `interior_bias` holds ([`DepthwisePairs`]); 32
/// channels at a time in four chains while there are, then 16.
///
/// # Safety
/// AVX2 must be available; every tap `(xo, _)` of every pixel (`xo + i step`) must have `c`
/// values from it in `x`; `pr` must hold the weights of `taps.len()` taps and `c` channels.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn depthwise_pairs_avx2(
    taps: &[(usize, usize)],
    x: &[i8],
    pr: &DepthwisePairs,
    pixels: usize,
    step: usize,
    acc: &mut [i32],
) {
    use std::arch::x86_64::*;
    let c = acc.len() / pixels.max(1);
    let blocks = c / 16;
    let pairs = taps.len().div_ceil(2);
    debug_assert!(c % 16 == 0 && pr.w.len() >= pairs * blocks * 16);
    let wp = pr.w.as_ptr();
    for i in 0..pixels {
        let (xp, ap) = (x.as_ptr().add(i * step), acc.as_mut_ptr().add(i * c));
        let widen = |at: usize| _mm256_cvtepi8_epi16(_mm_loadu_si128(xp.add(at) as *const __m128i));
        let ld = |p: *const i32| _mm256_loadu_si256(p as *const __m256i);
        // One block's two chains over every pair of taps (channels 0-3 | 8-11 and 4-7 | 12-15).
        let block = |b: usize, lo: &mut __m256i, hi: &mut __m256i, q: usize| {
            let xa = taps[2 * q].0;
            let xb = taps.get(2 * q + 1).map_or(xa, |t| t.0);
            let (va, vb) = (widen(xa + 16 * b), widen(xb + 16 * b));
            let w = wp.add((q * blocks + b) * 16);
            *lo = _mm256_add_epi32(*lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(va, vb), ld(w)));
            *hi = _mm256_add_epi32(*hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(va, vb), ld(w.add(8))));
        };
        let store = |b: usize, lo: __m256i, hi: __m256i| {
            let ch = 16 * b;
            let first = _mm256_permute2x128_si256::<0x20>(lo, hi);
            let second = _mm256_permute2x128_si256::<0x31>(lo, hi);
            _mm256_storeu_si256(ap.add(ch) as *mut __m256i, first);
            _mm256_storeu_si256(ap.add(ch + 8) as *mut __m256i, second);
        };
        let mut b = 0;
        while b + 2 <= blocks {
            let [mut l0, mut h0, mut l1, mut h1] = [_mm256_setzero_si256(); 4];
            for q in 0..pairs {
                block(b, &mut l0, &mut h0, q);
                block(b + 1, &mut l1, &mut h1, q);
            }
            store(b, l0, h0);
            store(b + 1, l1, h1);
            b += 2;
        }
        if b < blocks {
            let (mut lo, mut hi) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            for q in 0..pairs {
                block(b, &mut lo, &mut hi, q);
            }
            store(b, lo, hi);
        }
    }
}

/// The output columns of row `oy` whose taps all lie inside the input (none if a tap row
/// falls outside): with input column `ox s - pad + kx d`, those from `ceil(pad / s)` to the
/// last whose widest tap is within the width.
#[cfg(target_arch = "x86_64")]
fn interior_columns(g: &ConvGeometry, oy: usize) -> std::ops::Range<usize> {
    let [_, h, w, _] = g.input;
    let [kh, kw] = g.kernel;
    let ([sy, sx], [dy, dx]) = (g.stride, g.dilation);
    let top = oy * sy;
    let (span_y, span_x) = ((kh.max(1) - 1) * dy, (kw.max(1) - 1) * dx);
    if top < g.pad.top || top - g.pad.top + span_y >= h {
        return 0..0;
    }
    let first = g.pad.left.div_ceil(sx.max(1));
    // ox s - pad + span <= w - 1
    let Some(room) = (w + g.pad.left).checked_sub(span_x + 1) else { return 0..0 };
    let end = (room / sx.max(1) + 1).min(g.output[2]);
    first..end.max(first)
}

/// One pixel's depthwise sums into `acc` with NEON: `x - zx` and the weights (their low 16
/// bits, `uzp1`) as i16 lanes, `smlal` / `smlal2` forming `(x - zx) w` exactly in i32 lanes;
/// 16 channels per step (four accumulator chains), then 8, then the last channels one by one.
///
/// # Safety
/// NEON must be available; every tap `(xo, wo)` must have `acc.len()` values from `xo` in
/// `x` and from `wo` in `wd`.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
#[inline]
unsafe fn depthwise_acc_neon<X: Elem>(zx: i32, taps: &[(usize, usize)], x: &[X], wd: &[i32], acc: &mut [i32]) {
    use std::arch::aarch64::*;
    let c = acc.len();
    // `x - zx` fits i16 (operands of at most 8 bits), and so does `zx`.
    let z = vdupq_n_s16(zx as i16);
    let (xp, wp, ap) = (x.as_ptr(), wd.as_ptr(), acc.as_mut_ptr());
    let weights = |at: usize| {
        vuzp1q_s16(vreinterpretq_s16_s32(vld1q_s32(wp.add(at))), vreinterpretq_s16_s32(vld1q_s32(wp.add(at + 4))))
    };
    let mut ch = 0;
    while ch + 16 <= c {
        let mut a = [vdupq_n_s32(0); 4];
        for &(xo, wo) in taps {
            for h in 0..2 {
                let xv = vsubq_s16(X::load8_i16(xp.add(xo + ch + 8 * h)), z);
                let wv = weights(wo + ch + 8 * h);
                a[2 * h] = vmlal_s16(a[2 * h], vget_low_s16(xv), vget_low_s16(wv));
                a[2 * h + 1] = vmlal_high_s16(a[2 * h + 1], xv, wv);
            }
        }
        for (j, aj) in a.iter().enumerate() {
            vst1q_s32(ap.add(ch + 4 * j), *aj);
        }
        ch += 16;
    }
    while ch + 8 <= c {
        let mut a = [vdupq_n_s32(0); 2];
        for &(xo, wo) in taps {
            let xv = vsubq_s16(X::load8_i16(xp.add(xo + ch)), z);
            let wv = weights(wo + ch);
            a[0] = vmlal_s16(a[0], vget_low_s16(xv), vget_low_s16(wv));
            a[1] = vmlal_high_s16(a[1], xv, wv);
        }
        vst1q_s32(ap.add(ch), a[0]);
        vst1q_s32(ap.add(ch + 4), a[1]);
        ch += 8;
    }
    for ch in ch..c {
        acc[ch] = taps
            .iter()
            .fold(0i32, |s, &(xo, wo)| s.wrapping_add((x[xo + ch].widen() - zx) * (wd[wo + ch] as i16 as i32)));
    }
}

/// One pixel's depthwise sums into `acc` in scalar code: the same sums as the SIMD kernels.
#[inline(always)]
fn depthwise_acc_portable<X: Elem>(zx: i32, taps: &[(usize, usize)], x: &[X], wd: &[i32], acc: &mut [i32]) {
    let c = acc.len();
    let mut ch = 0;
    while ch + 16 <= c {
        let mut a = [0i32; 16];
        for &(xo, wo) in taps {
            let xs = &x[xo + ch..][..16];
            let ws = &wd[wo + ch..][..16];
            for j in 0..16 {
                a[j] = a[j].wrapping_add((xs[j].widen() - zx) * (ws[j] as i16 as i32));
            }
        }
        acc[ch..ch + 16].copy_from_slice(&a);
        ch += 16;
    }
    for ch in ch..c {
        acc[ch] = taps
            .iter()
            .fold(0i32, |s, &(xo, wo)| s.wrapping_add((x[xo + ch].widen() - zx) * (wd[wo + ch] as i16 as i32)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Multipliers and shifts at the edges of the requantization's range: zero, one, the
    /// smallest normalized and the largest Q31 mantissa, every right shift 0..=31 and left
    /// shifts up to 31, then a xorshift stream.
    fn multipliers(n: usize, left: bool) -> Vec<QuantMultiplier> {
        let mantissas = [0, 1, 1 << 30, (1 << 30) + 1, i32::MAX, i32::MAX - 1, 1_518_500_250];
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let multiplier = mantissas.get(i / 32).copied().unwrap_or((s >> 33) as i32 & i32::MAX);
                let shift = if left && i % 3 == 0 { (i % 32) as i32 } else { -((i % 32) as i32) };
                QuantMultiplier { multiplier, shift }
            })
            .collect()
    }

    fn params(ms: Vec<QuantMultiplier>, output_zp: i32, act: (i32, i32)) -> ConvParams {
        let c = ms.len();
        ConvParams {
            geom: ConvGeometry {
                input: [1, 1, 1, 1],
                output: [1, 1, 1, c],
                kernel: [1, 1],
                stride: [1, 1],
                dilation: [1, 1],
                pad: ExplicitPadding { top: 0, bottom: 0, left: 0, right: 0 },
            },
            groups: 1,
            weights: vec![1; c],
            weight_zp: vec![0; c],
            bias: None,
            input_zp: 0,
            output_zp,
            multipliers: ms,
            requant: Requant::Double,
            act_min: act.0,
            act_max: act.1,
        }
    }

    /// Dense weights are packed as i8 when every one fits and as i16 when one does not (a
    /// layer packed outside [`fast_supported`]'s 8 bits): both packings give the reference's
    /// values on every instruction set this CPU has.
    #[test]
    fn dense_weights_outside_i8_keep_16_bits() {
        let (c, k) = (19, 21);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |lo: i32, hi: i32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            lo + (seed % (hi - lo + 1) as u64) as i32
        };
        let x: Vec<i32> = (0..2 * 5 * 6 * c).map(|_| next(-128, 127)).collect();
        for wide in [false, true] {
            let bound = if wide { 300 } else { 127 };
            let p = ConvParams {
                geom: ConvGeometry {
                    input: [2, 5, 6, c],
                    output: [2, 5, 6, k],
                    kernel: [3, 3],
                    stride: [1, 1],
                    dilation: [1, 1],
                    pad: ExplicitPadding { top: 1, bottom: 1, left: 1, right: 1 },
                },
                groups: 1,
                weights: (0..k * 9 * c).map(|_| next(-bound, bound)).collect(),
                weight_zp: vec![0; k],
                bias: Some((0..k).map(|_| i64::from(next(-5000, 5000))).collect()),
                input_zp: -3,
                output_zp: 5,
                multipliers: (0..k).map(|i| QuantMultiplier::from_real(1.0 / (3000.0 + 200.0 * i as f64))).collect(),
                requant: Requant::Double,
                act_min: -128,
                act_max: 127,
            };
            let arith = Arithmetic::default();
            let pk = pack(&p, &arith);
            let PackedKind::Dense(cell) = &pk.kind else { panic!("a dense layer") };
            // Without the i16 packing, only the u8 x s8 one, made when every weight fits i8.
            assert!(cell.get().is_some() || (!wide && pk.u8_dense.is_some()), "wide {wide}");
            let slow = conv_reference(&p, &x, &arith);
            for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
                assert_eq!(conv_fast_on(isa, &p, &pk, &x).as_ref(), Some(&slow), "{isa:?}, wide {wide}");
            }
            // The i16 path's packing (made from the u8 x s8 one if a run above needed it).
            if let Some(d) = cell.get() {
                assert_eq!(matches!(d.w, DenseW::I16(_)), wide, "wide {wide}");
            }
        }
    }

    /// The bound at the edge: a 1x1 layer of two inputs within i8 (`|x - zx| <= 128`) and
    /// weights 127 sums at most 32,512 in magnitude, 32,767 with a bias of 255 -- a 16-bit
    /// accumulator's largest value, so it runs fast; with a bias of -257 a sum can leave the
    /// range, and one does: the reference's saturated output differs from the wrapped sum's.
    #[test]
    fn saturation_bound_is_exact_at_the_edge() {
        let p = |bias: i64| ConvParams {
            geom: ConvGeometry {
                input: [1, 1, 1, 2],
                output: [1, 1, 1, 1],
                kernel: [1, 1],
                stride: [1, 1],
                dilation: [1, 1],
                pad: ExplicitPadding { top: 0, bottom: 0, left: 0, right: 0 },
            },
            groups: 1,
            weights: vec![127, 127],
            weight_zp: vec![0],
            bias: Some(vec![bias]),
            input_zp: 0,
            output_zp: 0,
            multipliers: vec![QuantMultiplier::from_real(1.0 / 512.0)],
            requant: Requant::Double,
            act_min: -128,
            act_max: 127,
        };
        let sat = Arithmetic { acc_bits: 16, overflow: Overflow::Saturate, rounding: Rounding::TfliteDouble };
        let (fits, over) = (p(255), p(-257));
        assert!(saturation_free(&fits, &fits.weights, (-128, 127), 16));
        assert!(fast_supported_for(&fits, &fits.weights, (-128, 127), 8, 8, &sat));
        assert!(!saturation_free(&over, &over.weights, (-128, 127), 16));
        assert!(!fast_supported_for(&over, &over.weights, (-128, 127), 8, 8, &sat));
        assert!(!saturation_free(&fits, &fits.weights, (-128, 127), 15));
        let x = [-128, -128];
        let wrap = Arithmetic { overflow: Overflow::Wrap, ..sat };
        // -32,512 - 257 saturates at -32,768 (-64 after the rescale by 1/512) and wraps to
        // 32,767 (64).
        assert_eq!(conv_reference(&over, &x, &sat), vec![-64]);
        assert_eq!(conv_reference(&over, &x, &wrap), vec![64]);
        assert_eq!(conv_reference(&fits, &x, &sat), conv_reference(&fits, &x, &wrap));
    }

    /// The one-step 64-bit formula ([`OneStep`]) equals LiteRT's two roundings, checked in
    /// scalar arithmetic (on any CPU) over edge accumulators and every shift.
    #[test]
    fn requant64_formula_equals_double_rounding() {
        let xs = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30) - 1,
            -(1 << 30),
            -65_537,
            -3,
            -2,
            -1,
            0,
            1,
            2,
            3,
            65_535,
            1 << 30,
            i32::MAX,
        ];
        for m in multipliers(32 * 8 + 512, false) {
            let o = OneStep::new(m.multiplier, -m.shift);
            for &x in xs.iter().chain(&[m.multiplier, -m.multiplier, m.multiplier >> 7]) {
                assert_eq!(o.apply(x), multiply_by_quantized_multiplier(x, m), "x {x}, {m:?}");
                // Without the correction of negative products: the same once clamped at or
                // above 0.
                for lo in [0, 1, 100] {
                    assert_eq!(o.apply_floored(x).clamp(lo, i32::MAX), o.apply(x).clamp(lo, i32::MAX), "x {x}, {m:?}");
                }
            }
        }
    }

    /// The AVX-512 requantization (when the CPU has it) equals the scalar one on every lane,
    /// with and without left shifts, clamps and zero points, on 16 x 61 + 9 channels (the
    /// last group partial): every edge accumulator on every channel, then random ones.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn requant_avx512_equals_scalar() {
        if !Isa::Avx512Vnni.available() {
            return;
        }
        check_requant_row(16 * 61 + 9, None, |p, pk, bias, acc| {
            let mut out = vec![0i32; acc.len()];
            // SAFETY: AVX-512 F and BW are available (`Isa::available`); the constants hold
            // `acc.len()` channels.
            unsafe { requant_row_avx512(p, pk, bias, acc, &mut out) };
            vec![out]
        });
    }

    /// [`requant_avx512_equals_scalar`] for the AVX2 requantization (when the CPU has it), on
    /// 16 x 61 + 8 + 5 channels (blocks of 16, one of 8, 5 left to the scalar loop), stored as
    /// i32 and, where the clamp lies within i8, as i8; and on two rows with a gap between
    /// them; on LiteRT's accumulator and wrapping ones of 12 and 24 bits.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn requant_avx2_equals_scalar() {
        if !Isa::Avx2.available() {
            return;
        }
        for acc_bits in [None, Some(12), Some(24)] {
            check_requant_row(16 * 61 + 8 + 5, acc_bits, |p, pk, bias, acc| {
                let c = acc.len();
                let mut out = vec![0i32; c];
                let mut outs = Vec::new();
                // SAFETY (each call): AVX2 is available (`Isa::available`); `pk.simd_requant`.
                unsafe { requant_rows_avx2(p, pk, bias, acc, c, &mut out) };
                if (-128..=127).contains(&p.act_min) && (-128..=127).contains(&p.act_max) {
                    let mut out8 = vec![0i8; c];
                    unsafe { requant_rows_avx2(p, pk, bias, acc, c, &mut out8) };
                    outs.push(out8.iter().map(|&v| v as i32).collect());
                }
                let two: Vec<i32> = acc.iter().chain(&[7, 7, 7]).chain(acc).copied().collect();
                let mut out2 = vec![0i32; 2 * c];
                unsafe { requant_rows_avx2(p, pk, bias, &two, c + 3, &mut out2) };
                outs.push(out2[..c].to_vec());
                outs.push(out2[c..].to_vec());
                outs.insert(0, out);
                outs
            });
        }
    }

    /// [`requant_avx512_equals_scalar`] for the NEON requantization.
    #[test]
    #[cfg(target_arch = "aarch64")]
    fn requant_neon_equals_scalar() {
        assert!(Isa::Neon.available(), "NEON on every aarch64 Linux CPU");
        for acc_bits in [None, Some(12), Some(24)] {
            check_requant_row(16 * 61 + 9, acc_bits, |p, pk, bias, acc| {
                let mut out = vec![0i32; acc.len()];
                // SAFETY: NEON is available (asserted above); the constants hold `acc.len()`
                // channels.
                let done = unsafe { requant_row_neon(p, pk, bias, acc, &mut out) };
                out.truncate(done);
                vec![out]
            });
        }
    }

    /// A row requantization, `row(p, pk, bias, acc)` returning one or more outputs of the
    /// first channels (all but fewer than 8), against the scalar formula on `c` channels:
    /// multipliers at the edges of the range ([`multipliers`]), accumulators at i32's edges
    /// and random ones, zero and random biases, clamps at or above the zero point or not,
    /// zero points up to the largest the 8-bit store's saturating steps take and beyond; on
    /// LiteRT's accumulator and a wrapping one of `acc_bits` (`None`: 32).
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn check_requant_row(
        c: usize,
        acc_bits: Option<u32>,
        mut row: impl FnMut(&ConvParams, &PackedConv, &[i32], &[i32]) -> Vec<Vec<i32>>,
    ) {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let edges = [i32::MIN, -(1 << 30), -1, 0, 1, 1 << 30, i32::MAX];
        let arith = match acc_bits {
            Some(acc_bits) => Arithmetic { acc_bits, overflow: Overflow::Wrap, rounding: Rounding::TfliteDouble },
            None => Arithmetic::default(),
        };
        // The last two clamp at or above the zero point (a fused ReLU, ReLU6): the step
        // without its correction of negative products; the one before one step below it.
        for (left, zo, act) in [
            (false, 0, (i32::MIN, i32::MAX)),
            (true, -7, (-128, 127)),
            (true, 3, (i32::MIN, i32::MAX)),
            (false, 1, (0, 127)),
            (false, -7, (-7, 127)),
            (true, 3, (5, 100)),
            (false, 127, (-128, 127)),
            (true, -128, (-128, 127)),
            (false, 32640, (-128, 127)),
            (false, -32640, (-100, 127)),
            (true, 32641, (-128, 127)),
            (false, -40000, (-128, 0)),
        ] {
            let p = params(multipliers(c, left), zo, act);
            let pk = pack(&p, &arith);
            assert!(pk.simd_requant);
            for round in 0..16 {
                let mut next = || {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    s
                };
                let acc: Vec<i32> = (0..c)
                    .map(|i| match round {
                        0..7 => edges[(i + round) % edges.len()],
                        _ => (next() >> (32 + (round - 7) * 3)) as i32,
                    })
                    .collect();
                let bias: Vec<i32> =
                    (0..c).map(|_| if round < 9 { 0 } else { (next() as i32) >> (round + 2) }).collect();
                for (i, out) in row(&p, &pk, &bias, &acc).iter().enumerate() {
                    assert!(out.len() <= c && c - out.len() < 8, "{} of {c} channels", out.len());
                    for (co, &got) in out.iter().enumerate() {
                        let sum = (acc[co].wrapping_add(bias[co]) << pk.wrap_shift) >> pk.wrap_shift;
                        let v = multiply_by_quantized_multiplier(sum, p.multipliers[co]);
                        let want = v.saturating_add(zo).clamp(act.0, act.1);
                        assert_eq!(
                            got, want,
                            "output {i}, channel {co}, acc {}, {:?}, zo {zo}",
                            acc[co], p.multipliers[co]
                        );
                    }
                }
            }
        }
    }
}
