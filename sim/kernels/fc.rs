//! Integer fully connected layer, matching LiteRT's reference `fully_connected.h` (int8
//! per-tensor or per-channel, and 16x8 with 64-bit bias).

use super::conv::Isa;
use super::elem::Elem;
use super::fixedpoint::{requantize, Arithmetic, QuantMultiplier, Requant};
use crate::ir::I8Values;

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

/// Largest bound accepted on a group-wise sum (`|P + bias| < 2^62`), so the 64-bit sums of
/// [`FcGroups`] and of `kernels::kv_cache` cannot overflow.
pub const GROUP_SUM_BOUND: f64 = (1u64 << 62) as f64;

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
            out[b * p.out_features + o] = finish(p, o, acc, arith);
        }
    }
    out
}

/// Output `o` from its sum `acc`: the bias added, requantized, the zero point added and
/// clamped (shared by [`fully_connected`] and [`fully_connected_fast`]).
#[inline]
fn finish(p: &FcParams, o: usize, mut acc: i64, arith: &Arithmetic) -> i32 {
    if let Some(bias) = &p.bias {
        acc = if p.groups.is_some() { acc.saturating_add(bias[o]) } else { arith.acc_add(acc, bias[o]) };
    }
    let m = p.multipliers[if p.multipliers.len() == 1 { 0 } else { o }];
    let v = requantize(acc, m, if p.groups.is_some() { Requant::Single } else { p.requant }, arith);
    v.saturating_add(p.output_zp).clamp(p.act_min, p.act_max)
}

/// The int8 weights of an [`FcParams`] layer packed for [`fully_connected_fast`]: each
/// output's row of `in_features` bytes, padded with zeros to a multiple of 64 (rows already
/// a multiple of 64 long are the graph's own bytes, shared), and the row's sum.
#[derive(Debug, Clone)]
pub struct FcPacked {
    stride: usize,
    w: I8Values,
    wsum: Vec<i32>,
}

impl FcPacked {
    /// The weights `[out_features, in_features]` widened to i32 (for [`fully_connected`] when
    /// [`fully_connected_fast`] declines an input and the layer's [`FcParams`] holds no
    /// weights of its own).
    pub fn widened(&self, in_features: usize, out_features: usize) -> Vec<i32> {
        (0..out_features).flat_map(|o| self.w[o * self.stride..][..in_features].iter().map(|&v| i32::from(v))).collect()
    }
}

/// Largest input width of [`fully_connected_fast`]: each product `u w` is at most `255 * 128`
/// in magnitude (u8 x s8), so up to this many of them sum exactly in i32.
const FAST_MAX_FEATURES: usize = i32::MAX as usize / (255 * 128);

/// Packs `weights` (`[out_features, in_features]`, as the graph stores them; `p.weights` is
/// not read) for [`fully_connected_fast`] when it runs the layer exactly: no groups, weight
/// zero points 0, weights within i8, at most [`FAST_MAX_FEATURES`] input features; `None`
/// otherwise (the layer runs [`fully_connected`]).
pub fn pack_fc<W: Elem>(p: &FcParams, weights: &[W]) -> Option<FcPacked> {
    if !fast_fits(p, weights.len()) || !weights.iter().all(|&w| (-128..=127).contains(&w.widen())) {
        return None;
    }
    let stride = p.in_features.div_ceil(64) * 64;
    let mut w = vec![0i8; stride * p.out_features];
    for (o, row) in weights.chunks_exact(p.in_features.max(1)).enumerate().take(p.out_features) {
        w[o * stride..][..p.in_features].iter_mut().zip(row).for_each(|(d, &v)| *d = v.widen() as i8);
    }
    let wsum = row_sums(&w, stride, p.out_features);
    Some(FcPacked { stride, w: w.into(), wsum })
}

/// [`pack_fc`] of 8-bit weights: rows of a multiple of 64 bytes are packed as they are, so
/// the packing shares the graph's bytes instead of copying them.
pub fn pack_fc_i8(p: &FcParams, weights: &I8Values) -> Option<FcPacked> {
    let stride = p.in_features;
    if stride == 0 || stride % 64 != 0 {
        return pack_fc(p, weights);
    }
    if !fast_fits(p, weights.len()) {
        return None;
    }
    Some(FcPacked { stride, w: weights.clone(), wsum: row_sums(weights, stride, p.out_features) })
}

/// Whether [`fully_connected_fast`] runs `p` with `len` weights, weights within i8 aside: no
/// groups, weight zero points 0, at most [`FAST_MAX_FEATURES`] input features,
/// `[out_features, in_features]` weights.
fn fast_fits(p: &FcParams, len: usize) -> bool {
    p.groups.is_none()
        && p.weight_zp.iter().all(|&z| z == 0)
        && p.in_features <= FAST_MAX_FEATURES
        && len == p.in_features * p.out_features
}

/// The sums of `rows` rows of `stride` weights. (Built for AVX2 where the CPU has it: the
/// generic build widens bytes without `vpmovsxbd`. For MobileNet-v2's classifier this is
/// the first read of 1.25 MiB of the mapped file, so its page faults are most of what is left.)
fn row_sums(w: &[i8], stride: usize, rows: usize) -> Vec<i32> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked above).
        return unsafe { row_sums_avx2(w, stride, rows) };
    }
    row_sums_portable(w, stride, rows)
}

#[inline(always)]
fn row_sums_portable(w: &[i8], stride: usize, rows: usize) -> Vec<i32> {
    if stride == 0 {
        return vec![0; rows];
    }
    // Plain loops: a `collect` would be its own (generic) function, outside the AVX2 build.
    let mut sums = Vec::with_capacity(rows);
    for r in w.chunks_exact(stride).take(rows) {
        let mut s = 0i32;
        for &v in r {
            s += i32::from(v);
        }
        sums.push(s);
    }
    sums
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_sums_avx2(w: &[i8], stride: usize, rows: usize) -> Vec<i32> {
    row_sums_portable(w, stride, rows)
}

/// [`fully_connected`] under LiteRT's arithmetic ([`Arithmetic::is_litert`]) on u8 x s8
/// products (`vpdpbusd` with AVX-512 VNNI, `vpmaddwd` on widened bytes with AVX2, else
/// scalar): each input row offset into u8 (`u = x + 128`), `sum (x - zx) w = sum u w -
/// (zx + 128) sum w` exactly in i32, then the bias and the same requantization as
/// [`fully_connected`]. `None` when an input value is outside i8 (the caller runs
/// [`fully_connected`]).
pub fn fully_connected_fast<X: Elem>(p: &FcParams, pk: &FcPacked, x: &[X], arith: &Arithmetic) -> Option<Vec<i32>> {
    fully_connected_fast_on(Isa::best(), p, pk, x, arith)
}

/// [`fully_connected_fast`] with the kernels of instruction set `isa` (one the CPU runs): the
/// dot products of [`dot_u8_i8`], or on aarch64 `sdot` for [`Isa::NeonDot`] and `smull` +
/// `sadalp` for [`Isa::Neon`], which read `u ^ 0x80 = x` (s8 x s8), so their sums are
/// `sum x w`, less `zx sum w`.
fn fully_connected_fast_on<X: Elem>(
    isa: Isa,
    p: &FcParams,
    pk: &FcPacked,
    x: &[X],
    arith: &Arithmetic,
) -> Option<Vec<i32>> {
    assert!(x.len() >= p.batch * p.in_features && pk.w.len() >= pk.stride * p.out_features);
    assert!(isa.available(), "{isa:?} on this CPU");
    let mut out = vec![0i32; p.batch * p.out_features];
    let mut u = vec![0u8; pk.stride];
    for b in 0..p.batch {
        for (d, v) in u.iter_mut().zip(&x[b * p.in_features..][..p.in_features]) {
            let v = v.widen();
            if !(-128..=127).contains(&v) {
                return None;
            }
            *d = (v + 128) as u8;
        }
        for o in 0..p.out_features {
            let row = &pk.w[o * pk.stride..][..pk.stride];
            let u_w = |dot: i32| dot as i64 - (p.input_zp as i64 + 128) * pk.wsum[o] as i64;
            #[cfg(target_arch = "aarch64")]
            let x_w = |dot: i32| dot as i64 - p.input_zp as i64 * pk.wsum[o] as i64;
            let acc = match isa {
                Isa::NeonDot | Isa::Neon => {
                    // SAFETY: NEON, and for `NeonDot` the dot product, were detected (asserted
                    // above); `u` and `row` hold `stride` bytes, a multiple of 64.
                    #[cfg(target_arch = "aarch64")]
                    let acc = x_w(unsafe {
                        if isa == Isa::NeonDot {
                            dot_flipped_sdot(&u, row)
                        } else {
                            dot_flipped_smull(&u, row)
                        }
                    });
                    #[cfg(not(target_arch = "aarch64"))]
                    let acc = u_w(dot_u8_i8(isa, &u, row));
                    acc
                }
                Isa::Amx | Isa::Avx512Vnni | Isa::AvxVnni | Isa::Avx2 | Isa::Portable => u_w(dot_u8_i8(isa, &u, row)),
            };
            out[b * p.out_features + o] = finish(p, o, acc, arith);
        }
    }
    Some(out)
}

/// `sum u w` over two rows of equal length (exact while the sum fits i32:
/// [`FAST_MAX_FEATURES`]) with the kernels of `isa` (asserted available by the caller).
#[inline]
fn dot_u8_i8(isa: Isa, u: &[u8], w: &[i8]) -> i32 {
    let portable = |u: &[u8], w: &[i8]| u.iter().zip(w).fold(0i32, |a, (&u, &w)| a.wrapping_add(u as i32 * w as i32));
    match isa {
        // SAFETY: AVX-512 F and VNNI are available (the caller asserts `isa.available()`, and
        // both sets include them).
        #[cfg(target_arch = "x86_64")]
        Isa::Amx | Isa::Avx512Vnni => unsafe { dot_u8_i8_avx512(u, w) },
        // SAFETY: AVX2 is available (as above).
        #[cfg(target_arch = "x86_64")]
        Isa::AvxVnni | Isa::Avx2 => unsafe { dot_u8_i8_avx2(u, w) },
        // Never available off x86-64 (the caller asserts `isa.available()`).
        #[cfg(not(target_arch = "x86_64"))]
        Isa::Amx | Isa::Avx512Vnni | Isa::AvxVnni | Isa::Avx2 => portable(u, w),
        // Only reached off aarch64 (where they are never available), or by a caller that
        // runs the NEON kernels itself ([`fully_connected_fast_on`]).
        Isa::NeonDot | Isa::Neon | Isa::Portable => portable(u, w),
    }
}

/// `sum (u ^ 0x80) w`, the s8 x s8 dot product of `u - 128` and `w`, over rows of a multiple
/// of 64 bytes with NEON: 64 bytes per step in four accumulator chains, `step` adding the
/// products of 16 bytes into an accumulator's four i32 lanes (exact while the sum fits i32,
/// which [`FAST_MAX_FEATURES`] bounds). The loop of [`dot_flipped_sdot`] and
/// [`dot_flipped_smull`], inlined into each (with its target features).
///
/// # Safety
/// NEON must be available.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn dot_flipped_with(
    u: &[u8],
    w: &[i8],
    step: impl Fn(
        std::arch::aarch64::int32x4_t,
        std::arch::aarch64::int8x16_t,
        std::arch::aarch64::int8x16_t,
    ) -> std::arch::aarch64::int32x4_t,
) -> i32 {
    use std::arch::aarch64::*;
    let n = u.len().min(w.len()) / 64 * 64;
    let flip = vdupq_n_u8(0x80);
    let mut a = [vdupq_n_s32(0); 4];
    let mut i = 0;
    while i < n {
        for (j, aj) in a.iter_mut().enumerate() {
            let x = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(u.as_ptr().add(i + 16 * j)), flip));
            *aj = step(*aj, x, vld1q_s8(w.as_ptr().add(i + 16 * j)));
        }
        i += 64;
    }
    vaddvq_s32(vaddq_s32(vaddq_s32(a[0], a[1]), vaddq_s32(a[2], a[3])))
}

/// [`dot_flipped_with`] with `sdot` (four products summed into each i32 lane, no saturation).
///
/// # Safety
/// NEON and the dot product must be available.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon,dotprod")]
unsafe fn dot_flipped_sdot(u: &[u8], w: &[i8]) -> i32 {
    use std::arch::asm;
    dot_flipped_with(u, w, |mut a, x, wv| {
        // `vdotq_s32` is unstable in Rust (`stdarch_neon_dotprod`).
        asm!("sdot {a:v}.4s, {w:v}.16b, {x:v}.16b", a = inout(vreg) a, w = in(vreg) wv, x = in(vreg) x,
            options(pure, nomem, nostack, preserves_flags));
        a
    })
}

/// [`dot_flipped_with`] with baseline NEON: `smull` forms eight s8 x s8 products in i16
/// lanes (exact: at most `2^14` in magnitude) and `sadalp` adds neighbouring pairs into i32
/// lanes.
///
/// # Safety
/// NEON must be available.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn dot_flipped_smull(u: &[u8], w: &[i8]) -> i32 {
    use std::arch::aarch64::*;
    dot_flipped_with(u, w, |a, x, wv| {
        let a = vpadalq_s16(a, vmull_s8(vget_low_s8(x), vget_low_s8(wv)));
        vpadalq_s16(a, vmull_high_s8(x, wv))
    })
}

/// `sum u w` over two rows of a multiple of 64 bytes with `vpdpbusd` (exact while the sum
/// fits i32: [`FAST_MAX_FEATURES`]).
///
/// # Safety
/// AVX-512 F and VNNI must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn dot_u8_i8_avx512(u: &[u8], w: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let n = u.len().min(w.len()) / 64 * 64;
    let (mut a0, mut a1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    let mut i = 0;
    while i + 128 <= n {
        a0 = _mm512_dpbusd_epi32(
            a0,
            _mm512_loadu_si512(u.as_ptr().add(i) as *const _),
            _mm512_loadu_si512(w.as_ptr().add(i) as *const _),
        );
        a1 = _mm512_dpbusd_epi32(
            a1,
            _mm512_loadu_si512(u.as_ptr().add(i + 64) as *const _),
            _mm512_loadu_si512(w.as_ptr().add(i + 64) as *const _),
        );
        i += 128;
    }
    if i < n {
        a0 = _mm512_dpbusd_epi32(
            a0,
            _mm512_loadu_si512(u.as_ptr().add(i) as *const _),
            _mm512_loadu_si512(w.as_ptr().add(i) as *const _),
        );
    }
    _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1))
}

/// `sum u w` over two rows of a multiple of 64 bytes with AVX2: 16 bytes of each widened to
/// i16 (`u` zero-extended, `w` sign-extended), `vpmaddwd` (each pair at most
/// `2 * 255 * 128` in magnitude, exact), in two accumulators.
///
/// # Safety
/// AVX2 must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_u8_i8_avx2(u: &[u8], w: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let n = u.len().min(w.len()) / 64 * 64;
    let ld = |p: *const u8, i: usize| _mm_loadu_si128(p.add(i) as *const __m128i);
    let prod = |i: usize| {
        _mm256_madd_epi16(_mm256_cvtepu8_epi16(ld(u.as_ptr(), i)), _mm256_cvtepi8_epi16(ld(w.as_ptr() as *const u8, i)))
    };
    let (mut a0, mut a1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut i = 0;
    while i < n {
        a0 = _mm256_add_epi32(a0, _mm256_add_epi32(prod(i), prod(i + 16)));
        a1 = _mm256_add_epi32(a1, _mm256_add_epi32(prod(i + 32), prod(i + 48)));
        i += 64;
    }
    let a = _mm256_add_epi32(a0, a1);
    let s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256::<1>(a));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// The width LiteRT's hybrid layer quantizes its input rows to (int8).
pub const HYBRID_ROW_BITS: u32 = 8;

/// LiteRT's hybrid (dynamic-range) fully connected layer: float input and output, int8
/// weights with one scale per tensor or per output, a float bias (`fully_connected.cc`
/// `EvalHybridDense` on the portable `tensor_utils`).
#[derive(Debug, Clone)]
pub struct HybridFcParams {
    /// Input rows (tokens).
    pub batch: usize,
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// Weights `[out_features, in_features]` (int8 values).
    pub weights: Vec<i32>,
    /// Weight scales: one, or one per output; with `block`, one per block of each output,
    /// `[out_features][blocks]`.
    pub weight_scales: Vec<f32>,
    /// Weights in blocks of this many consecutive input features of each output, a scale
    /// per block (LiteRT's `BlockwiseQuantization`, ai-edge-quantizer's
    /// `dynamic_wi4b32_afp32`). LiteRT's reference kernel ignores the block scales, so no
    /// LiteRT result is defined to match; accelsim's definition is [`hybrid_fully_connected`]'s.
    pub block: Option<usize>,
    /// Float bias per output.
    pub bias: Option<Vec<f32>>,
    /// Each row quantized with its own zero point (else symmetric; block-wise layers have
    /// one, `ops::fc::asymmetric_rows`).
    pub asymmetric: bool,
    /// The fused activation, applied to the float output.
    pub activation: crate::ir::Activation,
}

/// One input row quantized to int8 as LiteRT's `BatchQuantizeFloats` does: asymmetric
/// (`AsymmetricQuantizeFloats`: the range widened to hold 0, its width taken in float and
/// divided by 255 in double; the zero point from the end with the smaller error, in double,
/// rounded; each value `v * (1 / scale)`, the inverse and the product in float, rounded half
/// away from zero and then offset by the zero point -- what LiteRT 2.3's x86 build computes,
/// measured: its source reads `TfLiteRound(offset + v * inv)`, but exact ties such as -84.5
/// come out -84 (`fc_hybrid_ties_hybrid`, `conv_hybrid_ties_hybrid`), a product 2.7e-6 below
/// 42.5 comes out 42 where the sum in float would be the tie -85.5 (the digits CNN,
/// `tests/hybrid.rs`), and the `*_near_tie` goldens, drawn where the sum's exact and float
/// values round apart, agree) or
/// symmetric (`SymmetricQuantizeFloats`: scale `max|x| / 127`, values in -127..=127). A row of
/// one value (all zeros, or constant and the range empty) quantizes to zeros with scale 1.
/// Returns the integers, the scale and the zero point.
pub fn quantize_row(x: &[f32], asymmetric: bool, q: &mut Vec<i32>) -> (f32, i32) {
    q.clear();
    let (lo, hi) = x.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if asymmetric {
        let (rmin, rmax) = (lo.min(0.0), hi.max(0.0));
        if rmin == rmax {
            q.resize(x.len(), 0);
            return (1.0, 0);
        }
        let (qmin, qmax) = (-128f64, 127f64);
        let scale = f64::from(rmax - rmin) / (qmax - qmin);
        let (rmin, rmax) = (f64::from(rmin), f64::from(rmax));
        let from_min = qmin - rmin / scale;
        let from_max = qmax - rmax / scale;
        let zp =
            if qmin.abs() + (rmin / scale).abs() < qmax.abs() + (rmax / scale).abs() { from_min } else { from_max };
        let offset = if zp <= qmin {
            -128
        } else if zp >= qmax {
            127
        } else {
            zp.round() as i32
        };
        let scale = scale as f32;
        let inv = (1.0 / f64::from(scale)) as f32;
        q.extend(x.iter().map(|&v| ((v * inv).round() as i32 + offset).clamp(-128, 127)));
        (scale, offset)
    } else {
        let range = lo.abs().max(hi.abs());
        if range == 0.0 {
            q.resize(x.len(), 0);
            return (1.0, 0);
        }
        let inv = 127.0 / range;
        q.extend(x.iter().map(|&v| ((v * inv).round() as i32).clamp(-127, 127)));
        (range / 127.0, 0)
    }
}

/// Runs the hybrid layer: the output starts at the bias; an all-zero input leaves it there;
/// otherwise each row is quantized ([`quantize_row`]), its scale multiplied by a per-tensor
/// weight scale, and each output adds `dot * scale` in float, where `dot` is the exact int8
/// dot product less `row sum of the weights x zero point` (the zero point as a float, as
/// LiteRT computes it) and `scale` the row's scale times a per-output weight scale; then the
/// fused activation.
///
/// With blocks (`p.block`), accelsim's own definition (LiteRT's reference kernel has none):
/// each row quantized as `asymmetric` says (block-wise layers with a zero point,
/// `ops::fc::asymmetric_rows`); each block's exact integer dot product, less the block's
/// weight sum times the row's zero point (in integers), is converted to float and
/// multiplied by the block's scale; the
/// products are added in float in block order, and their sum is multiplied by the row's
/// scale and added to the bias. Checked against the float layer and against LiteRT's
/// optimized kernels within tolerances (`tests/hybrid.rs`).
pub fn hybrid_fully_connected(p: &HybridFcParams, x: &[f32]) -> Vec<f32> {
    if let Some(size) = p.block {
        return blockwise_fully_connected(p, size.max(1), x);
    }
    let (n, k) = (p.out_features, p.in_features);
    let mut out = vec![0f32; p.batch * n];
    if let Some(b) = &p.bias {
        out.chunks_mut(n).for_each(|row| row.copy_from_slice(&b[..n]));
    }
    if x.iter().all(|&v| v == 0.0) {
        super::float::activate(&mut out, p.activation);
        return out;
    }
    let row_sums: Vec<i32> = p.weights.chunks(k).map(|w| w.iter().sum()).collect();
    let per_channel = p.weight_scales.len() > 1;
    let mut q = Vec::with_capacity(k);
    for (b, xs) in x.chunks(k).enumerate().take(p.batch) {
        let (mut scale, offset) = quantize_row(xs, p.asymmetric, &mut q);
        if !per_channel {
            scale *= p.weight_scales[0];
        }
        for o in 0..n {
            let mut dot: i32 = p.weights[o * k..][..k].iter().zip(&q).map(|(&w, &v)| w * v).sum();
            let s = if per_channel { scale * p.weight_scales[o] } else { scale };
            if p.asymmetric {
                dot = (dot as f32 - row_sums[o] as f32 * offset as f32) as i32;
            }
            out[b * n + o] += dot as f32 * s;
        }
    }
    super::float::activate(&mut out, p.activation);
    out
}

/// [`hybrid_fully_connected`] with weights in blocks of `size` input features.
fn blockwise_fully_connected(p: &HybridFcParams, size: usize, x: &[f32]) -> Vec<f32> {
    let (n, k) = (p.out_features, p.in_features);
    let blocks = k.div_ceil(size);
    let mut out = vec![0f32; p.batch * n];
    if let Some(b) = &p.bias {
        out.chunks_mut(n).for_each(|row| row.copy_from_slice(&b[..n]));
    }
    // Each output's block sums of weights, for the zero point's correction.
    let block_sums: Vec<i64> =
        p.weights.chunks(k).flat_map(|w| w.chunks(size).map(|b| b.iter().map(|&v| i64::from(v)).sum())).collect();
    let mut q = Vec::with_capacity(k);
    for (b, xs) in x.chunks(k).enumerate().take(p.batch) {
        let (scale, offset) = quantize_row(xs, p.asymmetric, &mut q);
        for o in 0..n {
            let w = &p.weights[o * k..][..k];
            let mut acc = 0f32;
            for (j, (wb, qb)) in w.chunks(size).zip(q.chunks(size)).enumerate() {
                let dot: i64 = wb.iter().zip(qb).map(|(&a, &v)| i64::from(a) * i64::from(v)).sum::<i64>()
                    - block_sums[o * blocks + j] * i64::from(offset);
                acc += dot as f32 * p.weight_scales[o * blocks + j];
            }
            out[b * n + o] += acc * scale;
        }
    }
    super::float::activate(&mut out, p.activation);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row sums of every build are the portable ones (sums of -128 and 127 included).
    #[test]
    fn row_sums_equal_the_portable_ones() {
        let mut w: Vec<i8> = (0..64 * 37).map(|i| ((i * 97 + 13) % 256) as u8 as i8).collect();
        w[..64].fill(-128);
        w[64..128].fill(127);
        for stride in [0, 64, 128, 64 * 37] {
            let rows = if stride == 0 { 3 } else { w.len() / stride };
            assert_eq!(row_sums(&w, stride, rows), row_sums_portable(&w, stride, rows), "stride {stride}");
        }
        assert_eq!(row_sums(&w, 64, 2), vec![-128 * 64, 127 * 64]);
    }

    /// The fast kernel, on every instruction set the CPU has, equals [`fully_connected`] where it packs: 1 to 300 input features
    /// (whole and partial blocks of 64 and 128), per-tensor and per-output multipliers (single
    /// rounding), biases, any input zero point, 8-bit and i32 inputs; an i32 input outside
    /// i8 is left to the reference (`None`).
    #[test]
    fn fast_kernel_equals_reference() {
        let mut next = crate::kernels::xorshift(0x4d59_5df4_d0f3_3173);
        for case in 0..200 {
            let (batch, mut inf, outf) = (next(1, 3) as usize, next(1, 300) as usize, next(1, 50) as usize);
            if case % 4 == 1 {
                inf = 64 * next(1, 4) as usize; // rows the 8-bit packing shares as they are
            }
            let per_output = case % 2 == 0;
            let p = FcParams {
                batch,
                in_features: inf,
                out_features: outf,
                weights: (0..inf * outf).map(|_| next(-127, 127) as i32).collect(),
                weight_zp: vec![0; outf],
                bias: (case % 3 != 0).then(|| (0..outf).map(|_| next(-100_000, 100_000)).collect()),
                input_zp: next(-128, 127) as i32,
                output_zp: next(-20, 20) as i32,
                multipliers: (0..if per_output { outf } else { 1 })
                    .map(|_| QuantMultiplier::from_real(next(1, 1000) as f64 / 1.0e6))
                    .collect(),
                requant: Requant::Single,
                act_min: -128,
                act_max: 127,
                groups: None,
            };
            let arith = Arithmetic::default();
            let pk = pack_fc(&p, &p.weights).expect("packs");
            // The same weights as a file's bytes, packed by the 8-bit packer.
            let file: crate::ir::SharedBytes =
                std::sync::Arc::new(p.weights.iter().map(|&v| v as u8).collect::<Vec<u8>>());
            let pk8 = pack_fc_i8(&p, &I8Values::shared(file, 0..inf * outf).expect("in range")).expect("packs");
            assert_eq!(pk8.widened(inf, outf), p.weights, "case {case}");
            assert_eq!(pk.widened(inf, outf), p.weights, "case {case}");
            let x: Vec<i32> = (0..batch * inf).map(|_| next(-128, 127) as i32).collect();
            let x8: Vec<i8> = x.iter().map(|&v| v as i8).collect();
            let want = fully_connected(&p, &x, &arith);
            for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
                let fast = |pk: &FcPacked, x: &[i8]| fully_connected_fast_on(isa, &p, pk, x, &arith);
                assert_eq!(
                    fully_connected_fast_on(isa, &p, &pk, &x, &arith).as_ref(),
                    Some(&want),
                    "{isa:?} {case} i32"
                );
                assert_eq!(fast(&pk, &x8).as_ref(), Some(&want), "{isa:?} case {case} i8");
                assert_eq!(fast(&pk8, &x8).as_ref(), Some(&want), "{isa:?} case {case} i8 shared");
                let mut wide = x.clone();
                wide[0] = 200;
                assert_eq!(fully_connected_fast_on(isa, &p, &pk, &wide, &arith), None);
            }
        }
    }

    /// Asymmetric rows: the range widened to hold 0 maps onto -128..=127 (every value within
    /// half a step of its reconstruction); a row of zeros quantizes to zeros; symmetric rows
    /// put the largest magnitude at +-127.
    #[test]
    fn rows_quantize_as_litert_describes() {
        let mut q = Vec::new();
        let x = [-1.5f32, 0.25, 3.0, 0.0, 2.2];
        let (s, z) = quantize_row(&x, true, &mut q);
        assert!((s - 4.5 / 255.0).abs() < 1e-7, "{s}");
        assert!(q.iter().all(|v| (-128..=127).contains(v)));
        for (&v, &qv) in x.iter().zip(&q) {
            assert!((s * (qv - z) as f32 - v).abs() <= s / 2.0 + 1e-6, "{v} -> {qv} (scale {s}, zero point {z})");
        }
        assert_eq!(quantize_row(&[0.0; 4], true, &mut q), (1.0, 0));
        assert_eq!(q, [0; 4]);
        let (s, z) = quantize_row(&[-2.0, 1.0, 0.5], false, &mut q);
        assert_eq!((s, z), (2.0 / 127.0, 0));
        assert_eq!(q, [-127, 64, 32]);
    }

    /// Blocks: each block's integer dot product (less its weight sum times the row's zero
    /// point) times its own scale, summed, times the row's scale, plus the bias; the same
    /// weights with every block's scale equal give the per-output-scale layer's result within
    /// float rounding, and the blocked result approaches the float layer's.
    #[test]
    fn blocks_rescale_their_own_dot_products() {
        let (k, n) = (6, 2);
        let weights = vec![1, -2, 3, 4, 5, -6, 7, 0, -1, 2, -3, 4];
        let scales = vec![0.5f32, 0.25, 0.125, 1.0, 0.75, 0.5];
        let p = HybridFcParams {
            batch: 1,
            in_features: k,
            out_features: n,
            weights: weights.clone(),
            weight_scales: scales.clone(),
            bias: Some(vec![0.5, -0.5]),
            asymmetric: true,
            activation: crate::ir::Activation::None,
            block: Some(2),
        };
        let x = [0.3f32, -1.2, 2.5, 0.0, -0.7, 1.9];
        let y = hybrid_fully_connected(&p, &x);
        let mut q = Vec::new();
        let (s, z) = quantize_row(&x, true, &mut q);
        for o in 0..n {
            let mut want = 0f32;
            for j in 0..3 {
                let dot: i64 =
                    (0..2).map(|i| i64::from(weights[o * k + 2 * j + i]) * i64::from(q[2 * j + i] - z)).sum();
                want += dot as f32 * scales[o * 3 + j];
            }
            let want = want * s + [0.5, -0.5][o];
            assert!((y[o] - want).abs() <= 1e-5 * want.abs().max(1.0), "{o}: {} vs {want}", y[o]);
            // Against the float layer: within the input's quantization error.
            let float: f32 =
                (0..k).map(|i| weights[o * k + i] as f32 * scales[o * 3 + i / 2] * x[i]).sum::<f32>() + [0.5, -0.5][o];
            let err: f32 = (0..k).map(|i| (weights[o * k + i] as f32 * scales[o * 3 + i / 2]).abs()).sum::<f32>() * s;
            assert!((y[o] - float).abs() <= err, "{o}: {} vs float {float} (bound {err})", y[o]);
        }
        let same = HybridFcParams { weight_scales: vec![0.5; 6], ..p.clone() };
        let per_output = HybridFcParams { weight_scales: vec![0.5, 0.5], block: None, ..p.clone() };
        let (a, b) = (hybrid_fully_connected(&same, &x), hybrid_fully_connected(&per_output, &x));
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    /// The hybrid layer: an all-zero input gives the bias (activated); a row's result is the
    /// exact dot product of its quantized values rescaled.
    #[test]
    fn hybrid_rows_are_rescaled_integer_dot_products() {
        let p = HybridFcParams {
            batch: 2,
            in_features: 3,
            out_features: 2,
            weights: vec![1, -2, 3, 4, 5, -6],
            weight_scales: vec![0.5, 0.25],
            block: None,
            bias: Some(vec![-1.0, 2.0]),
            asymmetric: true,
            activation: crate::ir::Activation::Relu,
        };
        assert_eq!(hybrid_fully_connected(&p, &[0.0; 6]), vec![0.0, 2.0, 0.0, 2.0]);
        let x = [1.0f32, -0.5, 2.0, 0.0, 0.0, 0.0];
        let out = hybrid_fully_connected(&p, &x);
        let mut q = Vec::new();
        let (s, z) = quantize_row(&x[..3], true, &mut q);
        for o in 0..2 {
            let dot: i32 = (0..3).map(|k| p.weights[o * 3 + k] * (q[k] - z)).sum();
            let want = (p.bias.as_ref().unwrap()[o] + dot as f32 * s * p.weight_scales[o]).max(0.0);
            assert!((out[o] - want).abs() <= 1e-6 * want.abs().max(1.0), "{o}: {} vs {want}", out[o]);
        }
        // The zero second row: the bias.
        assert_eq!(&out[2..], &[0.0, 2.0]);
    }
}
