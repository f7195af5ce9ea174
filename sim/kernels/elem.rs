//! The element types integer activations are stored in while a graph runs: `i32`
//! ([`Values::Int`](super::Values::Int), any width widened) or `i8`
//! ([`Values::I8`](super::Values::I8), a signed 8-bit tensor stored as 8 bits), and how the
//! fast kernels load, store and pool them.
//!
//! Why: an 8-bit activation held in an i32 makes every layer read and write four bytes per
//! value; the depthwise kernel is bound by those loads and requantization by the stores.
//! The fast convolutions are generic over [`Elem`] for their input and output, so each
//! layer reads and writes the tensor as it is stored, widening in registers.

use super::buffers::{Pool, POOL_I32, POOL_I8};

/// An element type of integer activations (`i32` or `i8`; sealed).
pub trait Elem: Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static + sealed::Sealed {
    /// The smallest and largest value the type holds.
    const RANGE: (i32, i32);
    /// The value as an i32.
    fn widen(self) -> i32;
    /// `v`, which the caller has clamped into [`Elem::RANGE`], as this type.
    fn narrow(v: i32) -> Self;
    /// This thread's pool of buffers of this type ([`super::buffers`]).
    fn pool() -> &'static Pool<Self>;
    /// `s` as bytes when the type is `i8` (the kernels that need the bytes as stored).
    fn as_i8(s: &[Self]) -> Option<&[i8]>;

    /// Sixteen elements from `p` widened to i32 lanes; lanes outside `k` are zero and their
    /// elements are not read.
    ///
    /// # Safety
    /// AVX-512 F and BW must be available (the caller is compiled with them: this is inlined
    /// into it); the elements of `k`'s lanes must be readable.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16(p: *const Self, k: std::arch::x86_64::__mmask16) -> std::arch::x86_64::__m512i;

    /// Stores the i32 lanes of `v` in `k` to `p` (each lane within [`Elem::RANGE`]).
    ///
    /// # Safety
    /// As [`Elem::load16`], with the elements of `k`'s lanes writable.
    #[cfg(target_arch = "x86_64")]
    unsafe fn store16(p: *mut Self, k: std::arch::x86_64::__mmask16, v: std::arch::x86_64::__m512i);

    /// Eight elements from `p` widened to i32 lanes.
    ///
    /// # Safety
    /// AVX2 must be available (inlined into AVX2 code); eight elements readable at `p`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256i;

    /// Stores the eight i32 lanes of `v` to `p` (each lane within [`Elem::RANGE`]).
    ///
    /// # Safety
    /// AVX2 must be available (inlined into AVX2 code); eight elements writable at `p`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn store8(p: *mut Self, v: std::arch::x86_64::__m256i);

    /// Stores sixteen requantized values, `a`'s eight lanes then `b`'s, each plus the zero
    /// point and clamped as `c` says (`clamp(v + zo, act_min, act_max)`, bounds within
    /// [`Elem::RANGE`]), where [`OutClamp8::sixteen`].
    ///
    /// # Safety
    /// AVX2 must be available (inlined into AVX2 code); sixteen elements writable at `p`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn store16_clamped(
        p: *mut Self,
        a: std::arch::x86_64::__m256i,
        b: std::arch::x86_64::__m256i,
        c: &OutClamp8,
    );
    /// Eight elements from `p` as i16 lanes (NEON): an `i8` sign-extended, an `i32` its low 16
    /// bits, so only for values within i16 (the fast kernels' operands of at most 8 bits).
    ///
    /// # Safety
    /// Eight elements readable at `p`.
    #[cfg(target_arch = "aarch64")]
    unsafe fn load8_i16(p: *const Self) -> std::arch::aarch64::int16x8_t;

    /// Stores eight i32 lanes, `lo` then `hi`, to `p` (NEON; each lane within [`Elem::RANGE`]).
    ///
    /// # Safety
    /// Eight elements writable at `p`.
    #[cfg(target_arch = "aarch64")]
    unsafe fn store8_neon(p: *mut Self, lo: std::arch::aarch64::int32x4_t, hi: std::arch::aarch64::int32x4_t);
}

/// The zero point and clamp of requantized outputs, as AVX2 vectors ([`Elem::store16_clamped`]).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub struct OutClamp8 {
    /// The bounds before the zero point is added (`clamp(v + zo) = clamp(v, lo - zo, hi - zo)
    /// + zo`, so adding it never overflows), in i32 lanes.
    lo: std::arch::x86_64::__m256i,
    hi: std::arch::x86_64::__m256i,
    /// The zero point in i32 lanes.
    zo: std::arch::x86_64::__m256i,
    /// The zero point in i16 lanes and the bounds in i8 lanes, for 8-bit outputs: saturating
    /// to i16, adding `zo` with saturation, saturating to i8 and clamping is `clamp(v + zo)`
    /// when `|zo| <= 32640` ([`OutClamp8::sixteen`]: a value saturated to +-32767 stays
    /// beyond the i8 bounds after `zo` is added).
    zo16: std::arch::x86_64::__m256i,
    lo8: std::arch::x86_64::__m128i,
    hi8: std::arch::x86_64::__m128i,
    /// Whether [`Elem::store16_clamped`] may be used (always for i32 outputs; for i8 ones
    /// when `|zo| <= 32640`).
    pub sixteen: bool,
}

#[cfg(target_arch = "x86_64")]
impl OutClamp8 {
    /// The vectors of the clamp `act_min..=act_max` around zero point `zo`, for outputs stored
    /// as `O`.
    ///
    /// # Safety
    /// Only called from AVX2 code.
    #[inline(always)]
    pub(crate) unsafe fn new<O: Elem>(act_min: i32, act_max: i32, zo: i32) -> OutClamp8 {
        use std::arch::x86_64::*;
        let (lo, hi) = super::fixedpoint::clamp_before_zero_point(act_min, act_max, zo);
        let byte = |v: i32| v.clamp(-128, 127) as i8;
        OutClamp8 {
            lo: _mm256_set1_epi32(lo),
            hi: _mm256_set1_epi32(hi),
            zo: _mm256_set1_epi32(zo),
            zo16: _mm256_set1_epi16(zo.clamp(-32640, 32640) as i16),
            lo8: _mm_set1_epi8(byte(act_min)),
            hi8: _mm_set1_epi8(byte(act_max)),
            sixteen: (-32640..=32640).contains(&zo) || O::RANGE != <i8 as Elem>::RANGE,
        }
    }

    /// `clamp(v + zo)` in i32 lanes.
    ///
    /// # Safety
    /// Only called from AVX2 code.
    #[inline(always)]
    pub(crate) unsafe fn apply(&self, v: std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(v, self.lo), self.hi), self.zo)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for i32 {}
    impl Sealed for i8 {}
}

impl Elem for i32 {
    const RANGE: (i32, i32) = (i32::MIN, i32::MAX);

    #[inline(always)]
    fn widen(self) -> i32 {
        self
    }

    #[inline(always)]
    fn narrow(v: i32) -> Self {
        v
    }

    fn pool() -> &'static Pool<Self> {
        &POOL_I32
    }

    fn as_i8(_: &[Self]) -> Option<&[i8]> {
        None
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self, k: std::arch::x86_64::__mmask16) -> std::arch::x86_64::__m512i {
        std::arch::x86_64::_mm512_maskz_loadu_epi32(k, p)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn store16(p: *mut Self, k: std::arch::x86_64::__mmask16, v: std::arch::x86_64::__m512i) {
        std::arch::x86_64::_mm512_mask_storeu_epi32(p, k, v)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256i {
        std::arch::x86_64::_mm256_loadu_si256(p as *const _)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn store8(p: *mut Self, v: std::arch::x86_64::__m256i) {
        std::arch::x86_64::_mm256_storeu_si256(p as *mut _, v)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn store16_clamped(
        p: *mut Self,
        a: std::arch::x86_64::__m256i,
        b: std::arch::x86_64::__m256i,
        c: &OutClamp8,
    ) {
        Self::store8(p, c.apply(a));
        Self::store8(p.add(8), c.apply(b));
    }

    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn load8_i16(p: *const Self) -> std::arch::aarch64::int16x8_t {
        use std::arch::aarch64::*;
        // The even i16 halves of eight little-endian i32 lanes are their low 16 bits.
        vuzp1q_s16(vreinterpretq_s16_s32(vld1q_s32(p)), vreinterpretq_s16_s32(vld1q_s32(p.add(4))))
    }

    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn store8_neon(p: *mut Self, lo: std::arch::aarch64::int32x4_t, hi: std::arch::aarch64::int32x4_t) {
        use std::arch::aarch64::*;
        vst1q_s32(p, lo);
        vst1q_s32(p.add(4), hi);
    }
}

impl Elem for i8 {
    const RANGE: (i32, i32) = (i8::MIN as i32, i8::MAX as i32);

    #[inline(always)]
    fn widen(self) -> i32 {
        self as i32
    }

    #[inline(always)]
    fn narrow(v: i32) -> Self {
        v as i8
    }

    fn pool() -> &'static Pool<Self> {
        &POOL_I8
    }

    fn as_i8(s: &[Self]) -> Option<&[i8]> {
        Some(s)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self, k: std::arch::x86_64::__mmask16) -> std::arch::x86_64::__m512i {
        use std::arch::x86_64::*;
        if k == 0xffff {
            // `vpmovsxbd` from memory: a byte-masked load costs an extra operation.
            _mm512_cvtepi8_epi32(_mm_loadu_si128(p as *const __m128i))
        } else {
            // A byte-masked load of the 512-bit form (AVX-512 BW, no VL needed), the low 16
            // bytes sign-extended.
            _mm512_cvtepi8_epi32(_mm512_castsi512_si128(_mm512_maskz_loadu_epi8(k as u64, p)))
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn store16(p: *mut Self, k: std::arch::x86_64::__mmask16, v: std::arch::x86_64::__m512i) {
        use std::arch::x86_64::*;
        // `vpmovdb` truncates each lane, exact within i8; its form with a memory destination
        // costs more than the register form and a store.
        if k == 0xffff {
            _mm_storeu_si128(p as *mut __m128i, _mm512_cvtepi32_epi8(v))
        } else {
            _mm512_mask_cvtepi32_storeu_epi8(p, k, v)
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        _mm256_cvtepi8_epi32(_mm_loadl_epi64(p as *const __m128i))
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn store8(p: *mut Self, v: std::arch::x86_64::__m256i) {
        use std::arch::x86_64::*;
        // Saturating packs, exact within i8: eight i16 lanes, then eight bytes.
        let w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        _mm_storel_epi64(p as *mut __m128i, _mm_packs_epi16(w, w))
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn store16_clamped(
        p: *mut Self,
        a: std::arch::x86_64::__m256i,
        b: std::arch::x86_64::__m256i,
        c: &OutClamp8,
    ) {
        use std::arch::x86_64::*;
        debug_assert!(c.sixteen);
        let (zo, lo, hi) = (c.zo16, c.lo8, c.hi8);
        // Per 128-bit lane: a0-3 b0-3 | a4-7 b4-7 as i16, then as bytes (twice); the dwords
        // a0-3 a4-7 b0-3 b4-7 gathered into the low half.
        let t = _mm256_adds_epi16(_mm256_packs_epi32(a, b), zo);
        let t = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(t, t), _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5));
        _mm_storeu_si128(p as *mut __m128i, _mm_min_epi8(_mm_max_epi8(_mm256_castsi256_si128(t), lo), hi));
    }

    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn load8_i16(p: *const Self) -> std::arch::aarch64::int16x8_t {
        use std::arch::aarch64::*;
        vmovl_s8(vld1_s8(p))
    }

    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn store8_neon(p: *mut Self, lo: std::arch::aarch64::int32x4_t, hi: std::arch::aarch64::int32x4_t) {
        use std::arch::aarch64::*;
        // Saturating narrowings, exact within i8: eight i16 lanes, then eight bytes.
        vst1_s8(p, vqmovn_s16(vcombine_s16(vqmovn_s32(lo), vqmovn_s32(hi))))
    }
}
