//! AMX-INT8 tiles for the dense u8 x s8 convolutions: `tdpbusd` adds the products of a tile
//! of 16 pixels x 64 bytes of k (u8) and a tile of 16 quads of k x 16 channels (s8, four
//! bytes per channel and quad: the layout [`super::DenseU8`] packs for `vpdpbusd`) into 16 x
//! 16 i32 sums, four products summed per lane and quad as `vpdpbusd` does, so the sums are
//! the VNNI path's exactly (modulo 2^32). Groups of 32 pixels x 32 channels take four
//! accumulator tiles; each group's sums are stored once and requantized with the AVX-512
//! requantization. The pixels past the last whole group, when there are at least
//! [`PAD_FROM`] of them, are copied into a group padded with zero rows ([`gemm_requant`]);
//! fewer are left to the VNNI kernel.
//!
//! An 8-bit input stored as i8 can be read as it is with `tdpbssd` (s8 x s8), the zero
//! point's term in the bias (`super::conv_i8_amx`).
//!
//! The tile instructions are written as inline assembly (Rust has no stable AMX
//! intrinsics). Linux gives a process the tile registers only after it asks
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`), which [`available`] does once.

use super::{lanes16, Elem, Requant16, U8Layer, NR_U8};

/// Bytes of k per tile row: the largest multiple of 4 up to 64 that divides `4 kq` (k padded
/// to quads), so every step is whole; `None` for an empty k.
pub(super) fn k_step(kq: usize) -> Option<usize> {
    (1..=16).rev().map(|q| 4 * q).find(|&s| (4 * kq) % s == 0).filter(|_| kq > 0)
}

/// Pixels per group of accumulator tiles.
pub(super) const GROUP: usize = 32;

/// Whether this CPU has AMX-INT8 (with AVX-512 F, BW and VNNI for the requantization and
/// the pixels past the tiles) and the OS gave this process the tile registers.
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(detect)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
fn detect() -> bool {
    // CPUID leaf 7: EDX bit 24 AMX-TILE, bit 25 AMX-INT8.
    // SAFETY: CPUID leaf 7 exists on every x86-64 CPU with AVX-512, checked first.
    if !super::vnni_available() {
        return false;
    }
    #[allow(unused_unsafe)]
    let edx = unsafe { std::arch::x86_64::__cpuid_count(7, 0) }.edx;
    if edx & (1 << 24) == 0 || edx & (1 << 25) == 0 {
        return false;
    }
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: asks the kernel for permission to use the tile data state; no memory is
    // passed. A refusal (an old kernel, a hypervisor hiding AMX) leaves the VNNI kernels.
    unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu")))]
fn detect() -> bool {
    false
}

/// The 64-byte operand of `ldtilecfg`: palette 1, each tile's bytes per row and rows.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

/// The four accumulator tiles of a group, stored: 32 pixels x 32 channels.
#[repr(C, align(64))]
struct Sums([[i32; NR_U8]; GROUP]);

/// Requantized outputs (`out`, `cout` per pixel) of the u8 x s8 GEMM `a[rows][4kq] x w`
/// (`l`'s dense weights; with `signed`, s8 x s8: `tdpbssd`, `a`'s bytes read as i8) with
/// `k_step(kq)` bytes of k per step: the whole groups of [`GROUP`] pixels among `rows`, and the rest as a zero-padded
/// group when there are at least [`PAD_FROM`]; returns how many pixels it did (the rest,
/// fewer than [`PAD_FROM`], are the caller's).
///
/// Tiles 0-3 accumulate (pixels 0-15 and 16-31 x channels 0-15 and 16-31 of a block of
/// [`NR_U8`]), tiles 4-5 hold the pixels' k bytes, 6-7 the block's two halves of weights
/// (rows of 128 bytes in the packing, 64 per half).
///
/// # Safety
/// The CPU must support AMX-INT8 with the process's permission ([`available`]) and AVX-512
/// F, BW and VNNI; the slices must hold what [`super::gemm_u8_vnni_requant`] asserts, and
/// `pk.simd_requant`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn gemm_requant<O: Elem>(
    l: &U8Layer,
    a: &[u8],
    a_stride: usize,
    rows: usize,
    out: &mut [O],
    signed: bool,
) -> usize {
    use std::arch::asm;
    use std::arch::x86_64::*;
    let U8Layer { p, pk, bias, d } = *l;
    let (kq, blocks, w) = (d.kq, d.blocks, &d.w[..]);
    let Some(kt) = k_step(kq) else { return 0 };
    let groups = rows / GROUP;
    let cout = p.geom.output[3];
    let left = rows - groups * GROUP;
    if left >= PAD_FROM {
        // The whole groups, then the rest as a group of their rows (`4 kq` bytes each) and
        // zero rows, the real rows' outputs copied back.
        let done = groups * GROUP;
        if done > 0 {
            gemm_requant(l, a, a_stride, done, out, signed);
        }
        let depth = 4 * kq;
        let mut group = vec![0u8; GROUP * depth];
        for (r, row) in group.chunks_exact_mut(depth).take(left).enumerate() {
            // The row's bytes that `a` holds (the last row may end at `a`'s end, short of
            // `depth`: its bytes past `k` meet zero weights).
            let src = &a[(done + r) * a_stride..];
            let n = depth.min(src.len());
            row[..n].copy_from_slice(&src[..n]);
        }
        let mut padded = vec![O::default(); GROUP * cout];
        gemm_requant(l, &group, depth, GROUP, &mut padded, signed);
        out[done * cout..rows * cout].copy_from_slice(&padded[..left * cout]);
        return rows;
    }
    if groups == 0 {
        return 0;
    }
    assert!(a.len() >= (rows - 1) * a_stride + 4 * kq && w.len() >= blocks * kq * 4 * NR_U8);
    assert!(out.len() >= rows * cout && blocks * NR_U8 >= cout && bias.len() >= cout);
    assert!(pk.simd_requant && pk.rq.mul.len() >= cout.div_ceil(16) * 16 && pk.left.len() >= cout);
    let mut cfg = TileConfig { palette: 1, start_row: 0, reserved: [0; 14], colsb: [0; 16], rows: [0; 16] };
    for t in 0..4 {
        (cfg.colsb[t], cfg.rows[t]) = (64, 16);
    }
    for t in 4..6 {
        (cfg.colsb[t], cfg.rows[t]) = (kt as u16, 16);
    }
    for t in 6..8 {
        (cfg.colsb[t], cfg.rows[t]) = (64, (kt / 4) as u8);
    }
    // SAFETY: a valid palette-1 configuration (rows at most 16, at most 64 bytes per row).
    asm!("ldtilecfg [{}]", in(reg) &cfg as *const TileConfig, options(nostack, readonly));
    let lanes = |from: usize| lanes16(cout, from);
    let mut sums = Sums([[0; NR_U8]; GROUP]);
    let steps = 4 * kq / kt;
    for b in 0..blocks {
        let co = b * NR_U8;
        let k = [lanes(co), lanes(co + 16)];
        // Built in place (an array `map` built them on the stack and copied both sets, about a
        // dozen 64-byte vectors each, per block).
        let half = |h: usize| (k[h] != 0).then(|| Requant16::new(p, pk, bias, co + 16 * h, k[h]));
        let rq = [half(0), half(1)];
        let wb = w.as_ptr().add(b * kq * 4 * NR_U8);
        for g in 0..groups {
            let a0 = a.as_ptr().add(g * GROUP * a_stride);
            let a1 = a0.add(16 * a_stride);
            asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem));
            for s in 0..steps {
                let k0 = s * kt;
                // SAFETY: rows `g*32 .. g*32 + 32 <= rows` of `a` from byte `k0 + kt <= 4 kq`,
                // and quads `k0/4 .. (k0 + kt)/4 <= kq` of the block's weights (asserted).
                let (a0, a1, w) = (a0.add(k0), a1.add(k0), wb.add(k0 * NR_U8));
                let (sa, sw) = (a_stride, 4 * NR_U8);
                if signed {
                    asm!(
                        "tileloadd tmm4, [{a0} + {sa}*1]",
                        "tileloadd tmm5, [{a1} + {sa}*1]",
                        "tileloadd tmm6, [{w} + {sw}*1]",
                        "tileloadd tmm7, [{w} + {sw}*1 + 64]",
                        "tdpbssd tmm0, tmm4, tmm6",
                        "tdpbssd tmm1, tmm4, tmm7",
                        "tdpbssd tmm2, tmm5, tmm6",
                        "tdpbssd tmm3, tmm5, tmm7",
                        a0 = in(reg) a0, a1 = in(reg) a1, sa = in(reg) sa, w = in(reg) w, sw = in(reg) sw,
                        options(nostack, readonly),
                    );
                } else {
                    asm!(
                        "tileloadd tmm4, [{a0} + {sa}*1]",
                        "tileloadd tmm5, [{a1} + {sa}*1]",
                        "tileloadd tmm6, [{w} + {sw}*1]",
                        "tileloadd tmm7, [{w} + {sw}*1 + 64]",
                        "tdpbusd tmm0, tmm4, tmm6",
                        "tdpbusd tmm1, tmm4, tmm7",
                        "tdpbusd tmm2, tmm5, tmm6",
                        "tdpbusd tmm3, tmm5, tmm7",
                        a0 = in(reg) a0, a1 = in(reg) a1, sa = in(reg) sa, w = in(reg) w, sw = in(reg) sw,
                        options(nostack, readonly),
                    );
                }
            }
            let c = sums.0.as_mut_ptr() as *mut u8;
            // SAFETY: four 16 x 64-byte tiles into the 32 x 128-byte `sums`.
            asm!(
                "tilestored [{c} + {s}*1], tmm0",
                "tilestored [{c} + {s}*1 + 64], tmm1",
                "tilestored [{c2} + {s}*1], tmm2",
                "tilestored [{c2} + {s}*1 + 64], tmm3",
                c = in(reg) c,
                c2 = in(reg) c.add(16 * 4 * NR_U8),
                s = in(reg) 4 * NR_U8,
                options(nostack),
            );
            let op = out.as_mut_ptr().add(g * GROUP * cout);
            for (r, row) in sums.0.iter().enumerate() {
                for (h, rq) in rq.iter().enumerate() {
                    if let Some(rq) = rq {
                        let acc = _mm512_loadu_si512(row.as_ptr().add(16 * h) as *const _);
                        O::store16(op.add(r * cout + co + 16 * h), k[h], rq.apply(acc));
                    }
                }
            }
        }
    }
    asm!("tilerelease", options(nostack, nomem));
    groups * GROUP
}

/// Fewest pixels past the last whole group that [`gemm_requant`] runs as a padded group
/// (fewer are left to the VNNI kernel). MobileNet-v2's 7x7 layers leave 17 of 49 pixels,
/// its 28x28 ones 16 of 784.
pub(super) const PAD_FROM: usize = 8;
