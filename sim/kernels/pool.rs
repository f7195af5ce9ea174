//! Integer pooling and reductions: AVERAGE_POOL_2D and MAX_POOL_2D (LiteRT's reference
//! `integer_ops/pooling.h`: padding excluded from the average, rounding half away from
//! zero) and quantized MEAN over any axes (`reference/reduce.h`, `QuantizedMeanOrSum`).

use super::fixedpoint::{requantize, Arithmetic, QuantMultiplier, Requant};
use crate::ir::{ExplicitPadding, PoolKind};

/// A pooling window over an NHWC tensor.
#[derive(Debug, Clone)]
pub struct PoolParams {
    /// Max or average.
    pub kind: PoolKind,
    /// Input shape.
    pub input: [usize; 4],
    /// Output shape.
    pub output: [usize; 4],
    /// Window.
    pub kernel: [usize; 2],
    /// Strides.
    pub stride: [usize; 2],
    /// Resolved padding.
    pub pad: ExplicitPadding,
    /// Output clamp (lower).
    pub act_min: i32,
    /// Output clamp (upper).
    pub act_max: i32,
}

/// Integer pooling (input and output share their quantization, as TFLite requires).
pub fn pool(p: &PoolParams, x: &[i32]) -> Vec<i32> {
    let [n, h, w, c] = p.input;
    let [_, oh, ow, _] = p.output;
    let mut out = vec![0i32; n * oh * ow * c];
    for b in 0..n {
        for oy in 0..oh {
            let y0 = (oy * p.stride[0]) as isize - p.pad.top as isize;
            let ys = (-y0).max(0) as usize;
            let ye = (p.kernel[0] as isize).min(h as isize - y0).max(0) as usize;
            for ox in 0..ow {
                let x0 = (ox * p.stride[1]) as isize - p.pad.left as isize;
                let xs = (-x0).max(0) as usize;
                let xe = (p.kernel[1] as isize).min(w as isize - x0).max(0) as usize;
                for ch in 0..c {
                    let mut acc: i32 = match p.kind {
                        PoolKind::Max => i32::MIN,
                        PoolKind::Avg => 0,
                    };
                    let mut count = 0i32;
                    for fy in ys..ye {
                        for fx in xs..xe {
                            let iy = (y0 + fy as isize) as usize;
                            let ix = (x0 + fx as isize) as usize;
                            let v = x[((b * h + iy) * w + ix) * c + ch];
                            match p.kind {
                                PoolKind::Max => acc = acc.max(v),
                                PoolKind::Avg => acc = acc.wrapping_add(v),
                            }
                            count += 1;
                        }
                    }
                    let v = match p.kind {
                        PoolKind::Max => acc,
                        PoolKind::Avg if count == 0 => 0,
                        PoolKind::Avg => {
                            if acc > 0 {
                                (acc + count / 2) / count
                            } else {
                                (acc - count / 2) / count
                            }
                        }
                    };
                    out[((b * oh + oy) * ow + ox) * c + ch] = v.clamp(p.act_min, p.act_max);
                }
            }
        }
    }
    out
}

/// Quantized MEAN over any axes as LiteRT's reference `QuantizedMeanOrSum` computes it:
/// the sum of `x - zi` over the reduced elements is scaled by `si / so` folded with
/// `1 / n` into one multiplier (`(m << s) / n`, `s = min(floor(log2 n), 32, 31 + shift)`).
#[allow(clippy::too_many_arguments)]
pub fn mean(
    shape: &[usize],
    axes: &[usize],
    x: &[i32],
    zi: i32,
    m: QuantMultiplier,
    zo: i32,
    qmin: i32,
    qmax: i32,
    arith: &Arithmetic,
) -> Vec<i32> {
    let (sums, counts) = reduce_sum(shape, axes, x.iter().map(|&v| v as i64));
    let n = counts.first().copied().unwrap_or(0) as i64;
    if n == 0 {
        return vec![zo.clamp(qmin, qmax); sums.len()];
    }
    let log2 = 63 - (n as u64).leading_zeros() as i32;
    let shift = log2.min(32).min(31 + m.shift);
    let folded = QuantMultiplier { multiplier: (((m.multiplier as i64) << shift) / n) as i32, shift: m.shift - shift };
    sums.iter()
        .map(|&s| {
            let centred = (s - zi as i64 * n) as i32;
            requantize(centred as i64, folded, Requant::Double, arith).saturating_add(zo).clamp(qmin, qmax)
        })
        .collect()
}

/// `[outer, reduced, inner]` sizes when `axes` (in any order) are one run of consecutive
/// dimensions of `shape`.
fn contiguous_axes(shape: &[usize], axes: &[usize]) -> Option<[usize; 3]> {
    let mut a = axes.to_vec();
    a.sort_unstable();
    a.dedup();
    let (&first, &last) = (a.first()?, a.last()?);
    if last >= shape.len() || last - first + 1 != a.len() {
        return None;
    }
    let p = |d: &[usize]| d.iter().product::<usize>();
    Some([p(&shape[..first]), p(&shape[first..=last]), p(&shape[last + 1..])])
}

/// Sums over `axes` of a row-major tensor; returns the sums (kept axes in order) and the
/// number of elements folded into each.
/// The largest value over `axes` of a row-major tensor of `shape` (REDUCE_MAX: LiteRT's
/// reference kernel starts from the type's lowest value and keeps the larger; for quantized
/// tensors it compares the integers, input and output sharing their parameters).
pub fn reduce_max<T: Copy + PartialOrd>(shape: &[usize], axes: &[usize], x: &[T], lowest: T) -> Vec<T> {
    let out_shape: Vec<usize> = shape.iter().enumerate().map(|(d, &s)| if axes.contains(&d) { 1 } else { s }).collect();
    let mut out = vec![lowest; out_shape.iter().product()];
    let mut idx = vec![0usize; shape.len()];
    for &v in x {
        let mut o = 0;
        for d in 0..shape.len() {
            o = o * out_shape[d] + if axes.contains(&d) { 0 } else { idx[d] };
        }
        if v > out[o] {
            out[o] = v;
        }
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// Sums over `axes` of a row-major tensor of `shape`, with the number of values summed.
pub fn reduce_sum<T: Copy + Default + std::ops::AddAssign>(
    shape: &[usize],
    axes: &[usize],
    x: impl Iterator<Item = T>,
) -> (Vec<T>, Vec<usize>) {
    let out_shape: Vec<usize> = shape.iter().enumerate().map(|(d, &s)| if axes.contains(&d) { 1 } else { s }).collect();
    let total: usize = out_shape.iter().product();
    let mut sums = vec![T::default(); total];
    let mut counts = vec![0usize; total];
    if let Some([outer, red, inner]) = contiguous_axes(shape, axes) {
        // The axes are one run of dimensions: `[outer, red, inner]`, walked in the same
        // row-major order (so each sum adds its terms in the same order).
        let mut x = x;
        for o in 0..outer {
            let (s, n) = (&mut sums[o * inner..][..inner], &mut counts[o * inner..][..inner]);
            for _ in 0..red {
                for (s, n) in s.iter_mut().zip(n.iter_mut()) {
                    let Some(v) = x.next() else { return (sums, counts) };
                    *s += v;
                    *n += 1;
                }
            }
        }
        return (sums, counts);
    }
    let mut idx = vec![0usize; shape.len()];
    for v in x {
        let mut o = 0;
        for d in 0..shape.len() {
            o = o * out_shape[d] + if axes.contains(&d) { 0 } else { idx[d] };
        }
        sums[o] += v;
        counts[o] += 1;
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    (sums, counts)
}

#[cfg(test)]
mod tests {
    use super::reduce_sum;

    /// `reduce_sum` against sums formed index by index, for runs of axes (the strided fast
    /// path) and for others (the general walk), on integers and on floats (whose sums must
    /// add their terms in row-major order on either path).
    #[test]
    fn reduce_sum_equals_sums_by_index() {
        let shape = [2usize, 3, 4, 5];
        let x: Vec<i64> = (0..120).map(|i| (i * 37 % 23) as i64 - 11).collect();
        let xf: Vec<f32> = x.iter().map(|&v| v as f32 * 0.1 + 1e-3).collect();
        for axes in [vec![1, 2], vec![2, 1], vec![3], vec![0], vec![0, 1, 2, 3], vec![0, 2], vec![1, 3]] {
            let kept = |d: usize, i: usize| if axes.contains(&d) { 0 } else { i };
            let out_shape: Vec<usize> = (0..4).map(|d| if axes.contains(&d) { 1 } else { shape[d] }).collect();
            let mut want = vec![0i64; out_shape.iter().product()];
            let mut want_f = vec![0f32; want.len()];
            let mut count = vec![0usize; want.len()];
            for (flat, (&v, &vf)) in x.iter().zip(&xf).enumerate() {
                let i = [flat / 60, flat / 20 % 3, flat / 5 % 4, flat % 5];
                let o = ((kept(0, i[0]) * out_shape[1] + kept(1, i[1])) * out_shape[2] + kept(2, i[2])) * out_shape[3]
                    + kept(3, i[3]);
                want[o] += v;
                want_f[o] += vf;
                count[o] += 1;
            }
            assert_eq!(reduce_sum(&shape, &axes, x.iter().copied()), (want, count.clone()), "axes {axes:?}");
            let (got_f, got_n) = reduce_sum(&shape, &axes, xf.iter().copied());
            assert_eq!(got_n, count);
            assert!(got_f.iter().zip(&want_f).all(|(a, b)| a.to_bits() == b.to_bits()), "axes {axes:?}");
        }
    }
}
