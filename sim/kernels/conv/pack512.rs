//! Packing of 8-bit dense weights into [`DenseU8`] with AVX-512: the same bytes and sums as
//! the portable packer in `dense_u8`, written a whole 64-byte row at a time.
//!
//! Why: the portable packer writes one 4-byte quad per channel and k-quad to a stride of 128
//! bytes, into a zeroed buffer, and sums each channel's weights in SSE2; it was an eighth of
//! a one-image `exec`. Here 16 channels x 16 quads are loaded as sixteen rows, transposed in
//! registers (a 16x16 transpose of 32-bit lanes), summed with `vpdpbusd` against ones, and
//! stored in output order, so the buffer is written once, front to back, never zeroed.

use super::{DenseU8, NR_U8};
use std::arch::x86_64::*;

/// `weights` (`cout` rows of `k` i8, OHWI as stored) packed as [`DenseU8`]: blocks of
/// [`NR_U8`] channels, each `[kq][NR_U8][4]`, missing channels and k zero.
///
/// # Safety
/// AVX-512 F, BW and VNNI must be available; `weights` must hold `cout * k` values, `k > 0`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn dense_u8_i8(weights: &[i8], k: usize, cout: usize) -> DenseU8 {
    debug_assert!(k > 0 && weights.len() >= cout * k);
    const HALF: usize = NR_U8 / 2;
    let kq = k.div_ceil(4);
    let blocks = cout.div_ceil(NR_U8);
    let total = blocks * kq * NR_U8 * 4;
    let mut w: Vec<i8> = Vec::with_capacity(total);
    let mut wsum = vec![0i32; blocks * NR_U8];
    let dst = w.as_mut_ptr();
    let ones = _mm512_set1_epi8(1);
    let src = weights.as_ptr();
    for b in 0..blocks {
        let block_dst = dst.add(b * kq * NR_U8 * 4);
        for h in 0..2 {
            let first = b * NR_U8 + h * HALF;
            let rows = cout.saturating_sub(first).min(HALF);
            let mut sums = _mm512_setzero_si512();
            for q0 in (0..kq).step_by(16) {
                let off = 4 * q0;
                let len = (k - off).min(64);
                let mask: __mmask64 = if len == 64 { !0 } else { (1u64 << len) - 1 };
                let mut r = [_mm512_setzero_si512(); 16];
                for (j, row) in r.iter_mut().enumerate().take(rows) {
                    *row = _mm512_maskz_loadu_epi8(mask, src.add((first + j) * k + off).cast());
                }
                transpose16(&mut r);
                let quads = (kq - q0).min(16);
                for (i, t) in r.iter().enumerate().take(quads) {
                    sums = _mm512_dpbusd_epi32(sums, ones, *t);
                    _mm512_storeu_si512(block_dst.add(((q0 + i) * NR_U8 + h * HALF) * 4).cast(), *t);
                }
            }
            _mm512_storeu_si512(wsum.as_mut_ptr().add(b * NR_U8 + h * HALF).cast(), sums);
        }
    }
    // SAFETY: every byte of the `total` was stored above: each block's `kq` rows of
    // `NR_U8 * 4` bytes, both halves (zero lanes for missing channels and k).
    w.set_len(total);
    wsum.truncate(cout);
    DenseU8 { kq, blocks, w, wsum }
}

/// The permutes of [`transpose16`]'s stages: `[stage][0]` for the row with bit `s` clear (lane
/// `l` from itself where bit `s` of `l` is clear, else lane `l - b` of its partner), `[stage][1]`
/// for the partner (lane `l + b` of the row, else its own lane `l`); `b = 1 << s`, and the
/// partner's lanes are numbered from 16.
const STAGES: [[[i32; 16]; 2]; 4] = {
    let mut t = [[[0i32; 16]; 2]; 4];
    let mut s = 0;
    while s < 4 {
        let b = 1 << s;
        let mut l = 0;
        while l < 16 {
            let set = l & b != 0;
            t[s][0][l] = (if set { 16 + l - b } else { l }) as i32;
            t[s][1][l] = (if set { 16 + l } else { l + b }) as i32;
            l += 1;
        }
        s += 1;
    }
    t
};

/// Transposes 16 rows of 16 32-bit lanes in place (row `i`, lane `l` to row `l`, lane `i`),
/// in four stages: stage `s` swaps bit `s` of the row with bit `s` of the lane, two
/// two-source permutes per pair of rows.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn transpose16(r: &mut [__m512i; 16]) {
    for (s, idx) in STAGES.iter().enumerate() {
        let b = 1usize << s;
        let (lo, hi) = (_mm512_loadu_si512(idx[0].as_ptr().cast()), _mm512_loadu_si512(idx[1].as_ptr().cast()));
        for i in (0..16).filter(|i| i & b == 0) {
            let (x, y) = (r[i], r[i + b]);
            r[i] = _mm512_permutex2var_epi32(x, lo, y);
            r[i + b] = _mm512_permutex2var_epi32(x, hi, y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{dense_u8_portable, vnni_available};

    #[test]
    fn avx512_packing_equals_the_portable_one() {
        if !vnni_available() {
            eprintln!("skipped: no AVX-512 VNNI");
            return;
        }
        let mut next = crate::kernels::xorshift(0x9e37_79b9_7f4a_7c15);
        // k: under a quad, not whole quads, under and over one 64-byte row, several rows;
        // cout: under a half block, between halves, whole and partial blocks.
        for k in [1, 3, 4, 7, 27, 64, 65, 100, 128, 131, 576, 1000] {
            for cout in [1, 5, 16, 17, 31, 32, 33, 64, 70] {
                let w: Vec<i8> = (0..k * cout).map(|_| next(-128, 127) as i8).collect();
                // SAFETY: VNNI was detected; `w` holds cout * k values, k > 0.
                let fast = unsafe { super::dense_u8_i8(&w, k, cout) };
                let slow = dense_u8_portable(&w, k, cout).expect("i8 weights fit");
                assert_eq!((fast.kq, fast.blocks), (slow.kq, slow.blocks), "k {k} cout {cout}");
                assert_eq!(fast.w, slow.w, "k {k} cout {cout}");
                assert_eq!(fast.wsum, slow.wsum, "k {k} cout {cout}");
            }
        }
    }
}
