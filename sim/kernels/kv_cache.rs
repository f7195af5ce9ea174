//! A KV cache quantized in groups along each head's features (`--kv-group`, KIVI- and
//! llama.cpp-style KV quantization): accelsim's integer definition of attention's two
//! products over such a cache, which LiteRT has no kernel for. The cost model costs the
//! same arithmetic (`map::tiling::Widths::groups` for the keys, `Widths::dequant` for the
//! values); this module defines the numbers and checks them against float attention.
//!
//! The cache holds, per position, one head's `features` values in groups of `size`
//! consecutive features, each group with an fp16 scale `s = m * 2^e` (integer significand
//! `m`, [`crate::quant::clip::fp16_parts`]) and, asymmetric, a zero point ([`quantize_cache`]).
//!
//! - **Keys** (`Q K^T`, summed over the features): the groups run along the reduction, as
//!   group-wise weights do, and the definition is the group-wise fully connected layer's
//!   ([`fc::FcGroups`]): per position, each group's `sum (q - zq)(k - zk)` is an exact
//!   integer, scaled by `m * 2^(e - E)` (`E` the position's smallest group exponent) and
//!   summed exactly; one rounding rescales the sum by `query scale x 2^E / score scale`.
//! - **Values** (`P V`, summed over positions): the groups run across the reduction (each
//!   position's feature `d` has its own scale), so no partial sum shares one. Per output
//!   feature `d`, each term `(p - zp)(v - zv)` is an exact integer, scaled by its position's
//!   `m * 2^(e - E_d)` (`E_d` the smallest exponent of `d`'s groups over the positions) and
//!   summed exactly; one rounding rescales by `probability scale x 2^E_d / output scale`.
//!   This is the product with each cached value dequantized, which is how the cost model
//!   counts it (one operation per element as the cache is loaded).
//!
//! Both are the float products of the dequantized operands to within one step of the output
//! (the only rounding is the last), so the cache's error is its quantization's alone.

use super::fc::{self, FcGroups, FcParams, GROUP_SUM_BOUND};
use super::fixedpoint::{requantize, Arithmetic, QuantMultiplier, Requant};
use crate::quant::clip::{group_integers, quantize_weight_groups, ClipMethod, QuantizedWeights};

/// One head's cache, `[positions, features]`, quantized in groups along the features.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheRows {
    /// Positions (rows).
    pub positions: usize,
    /// Features per position (the head dimension).
    pub features: usize,
    /// Features per group (a ragged last group is a group).
    pub size: usize,
    /// The quantized values, `[positions, features]`, and per position and group
    /// (`[p * groups + j]`) the fp16 scale and the zero point.
    pub q: QuantizedWeights,
}

impl CacheRows {
    /// Groups per position.
    pub fn groups(&self) -> usize {
        self.features.div_ceil(self.size.max(1))
    }

    /// The scale and zero point of position `p`'s group `j`.
    fn param(&self, p: usize, j: usize) -> (f32, i32) {
        let i = p * self.groups() + j;
        (self.q.scales[i], self.q.zero_points[i])
    }

    /// The dequantized cache, `[positions, features]`.
    pub fn dequantized(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.q.q.len());
        for p in 0..self.positions {
            for d in 0..self.features {
                let (s, z) = self.param(p, d / self.size.max(1));
                out.push(s * (self.q.q[p * self.features + d] - z) as f32);
            }
        }
        out
    }
}

/// Quantizes one head's cache `x` (`[positions, features]`) to `bits` in groups of `size`
/// features: each group's min/max range, its scale rounded to fp16, symmetric (zero point
/// 0, values in `-(2^(b-1)-1)..=2^(b-1)-1`) or asymmetric.
pub fn quantize_cache(x: &[f32], features: usize, size: usize, bits: u8, symmetric: bool) -> CacheRows {
    let positions = x.len() / features.max(1);
    let q = quantize_weight_groups(x, positions, size, bits, symmetric, ClipMethod::MinMax);
    CacheRows { positions, features, size: size.max(1), q }
}

/// An integer operand: values, their zero point and scale.
#[derive(Debug, Clone, Copy)]
pub struct Operand<'a> {
    /// Integer values.
    pub q: &'a [i32],
    /// Zero point.
    pub zero_point: i32,
    /// Scale.
    pub scale: f32,
}

/// The output's quantization: scale, zero point and clamp.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
    /// Lowest value.
    pub min: i32,
    /// Highest value.
    pub max: i32,
}

/// The keys' product as a group-wise fully connected layer over `rows` query rows of
/// `keys.features` (`query`): one output per cached position. Errors when a sum could leave
/// 62 bits or a rescale is out of the integer kernels' range.
pub fn prepare_keys(rows: usize, query: Operand, keys: &CacheRows, out: Output) -> Result<FcParams, String> {
    let (n, f, groups) = (keys.positions, keys.features, keys.groups());
    let qspan = query.q.iter().map(|&v| (i64::from(v) - i64::from(query.zero_point)).unsigned_abs()).max().unwrap_or(0);
    let (mut scale, mut zero_points, mut multipliers) = (Vec::new(), Vec::new(), Vec::new());
    for p in 0..n {
        let (ints, e_min) = group_integers(&(0..groups).map(|j| keys.param(p, j).0).collect::<Vec<_>>());
        let mut bound = 0f64;
        for (j, &s) in ints.iter().enumerate() {
            let zk = keys.param(p, j).1;
            let part: f64 = keys.q.q[p * f..][..f]
                .chunks(keys.size)
                .nth(j)
                .unwrap_or(&[])
                .iter()
                .map(|&v| (f64::from(v) - f64::from(zk)).abs())
                .sum();
            bound += part * qspan as f64 * s as f64;
            zero_points.push(zk);
        }
        if bound >= GROUP_SUM_BOUND {
            return Err(format!(
                "position {p}: group sums could reach about 2^{:.0}; at most 2^62 is exact",
                bound.log2()
            ));
        }
        scale.extend(ints);
        let real = f64::from(query.scale) * 2f64.powi(e_min) / f64::from(out.scale);
        multipliers.push(QuantMultiplier::checked(real).map_err(|m| format!("position {p}: {m}"))?);
    }
    Ok(FcParams {
        batch: rows,
        in_features: f,
        out_features: n,
        weights: keys.q.q.clone(),
        weight_zp: vec![0; n],
        bias: None,
        input_zp: query.zero_point,
        output_zp: out.zero_point,
        multipliers,
        requant: Requant::Single,
        act_min: out.min,
        act_max: out.max,
        groups: Some(FcGroups { size: keys.size, count: groups, scale, zero_points }),
    })
}

/// `Q K^T` over a group-wise key cache: `[rows, positions]` scores ([`prepare_keys`]).
pub fn keys(rows: usize, query: Operand, keys: &CacheRows, out: Output) -> Result<Vec<i32>, String> {
    let p = prepare_keys(rows, query, keys, out)?;
    Ok(fc::fully_connected(&p, query.q, &Arithmetic::default()))
}

/// `P V` over a group-wise value cache: `[rows, features]` outputs of `rows` probability
/// rows over the cached positions (`probs`). Errors when a sum could leave 62 bits or a
/// rescale is out of the integer kernels' range.
pub fn values(rows: usize, probs: Operand, values: &CacheRows, out: Output) -> Result<Vec<i32>, String> {
    let (n, f) = (values.positions, values.features);
    if probs.q.len() != rows * n {
        return Err(format!("{} probabilities for {rows} rows of {n} positions", probs.q.len()));
    }
    let pspan = probs.q.iter().map(|&v| (i64::from(v) - i64::from(probs.zero_point)).unsigned_abs()).max().unwrap_or(0);
    let mut result = vec![0i32; rows * f];
    for d in 0..f {
        let j = d / values.size;
        let (ints, e_min) = group_integers(&(0..n).map(|p| values.param(p, j).0).collect::<Vec<_>>());
        let bound: f64 = (0..n)
            .map(|p| (f64::from(values.q.q[p * f + d]) - f64::from(values.param(p, j).1)).abs() * ints[p] as f64)
            .sum::<f64>()
            * pspan as f64;
        if bound >= GROUP_SUM_BOUND {
            return Err(format!("feature {d}: sums could reach about 2^{:.0}; at most 2^62 is exact", bound.log2()));
        }
        let real = f64::from(probs.scale) * 2f64.powi(e_min) / f64::from(out.scale);
        let m = QuantMultiplier::checked(real).map_err(|m| format!("feature {d}: {m}"))?;
        for r in 0..rows {
            let acc: i64 = (0..n)
                .map(|p| {
                    let term = (i64::from(probs.q[r * n + p]) - i64::from(probs.zero_point))
                        * (i64::from(values.q.q[p * f + d]) - i64::from(values.param(p, j).1));
                    term * ints[p]
                })
                .sum();
            let v = requantize(acc, m, Requant::Single, &Arithmetic::default());
            result[r * f + d] = v.saturating_add(out.zero_point).clamp(out.min, out.max);
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded generator of values in [-0.5, 0.5).
    fn rng(mut seed: u64) -> impl FnMut() -> f32 {
        move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        }
    }

    /// A head's cache with an outlier feature (KV caches have a few channels far larger
    /// than the rest, which is why they are quantized in groups).
    fn cache(positions: usize, features: usize, seed: u64) -> Vec<f32> {
        let mut r = rng(seed);
        (0..positions * features).map(|i| r() * if i % features == 5 { 16.0 } else { 1.0 }).collect()
    }

    fn quantize_tensor(x: &[f32], bits: u8) -> (Vec<i32>, f32) {
        let m = x.iter().fold(0f32, |a, &v| a.max(v.abs()));
        let qmax = (1i32 << (bits - 1)) - 1;
        let s = m / qmax as f32;
        (x.iter().map(|&v| (v / s).round() as i32).collect(), s)
    }

    fn out(scale: f32) -> Output {
        Output { scale, zero_point: 0, min: i32::MIN, max: i32::MAX }
    }

    /// Float `Q K^T` and `P V` on given operands.
    fn float_keys(q: &[f32], k: &[f32], rows: usize, f: usize) -> Vec<f32> {
        let n = k.len() / f;
        (0..rows * n).map(|i| (0..f).map(|d| q[(i / n) * f + d] * k[(i % n) * f + d]).sum()).collect()
    }

    fn float_values(p: &[f32], v: &[f32], rows: usize, f: usize) -> Vec<f32> {
        let n = v.len() / f;
        (0..rows * f).map(|i| (0..n).map(|t| p[(i / f) * n + t] * v[t * f + i % f]).sum()).collect()
    }

    /// Worst absolute difference.
    fn worst(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn both_products_are_the_dequantized_float_products_within_one_output_step() {
        let (rows, n, f) = (4, 48, 64);
        for (bits, size, symmetric) in [(4, 32, true), (4, 16, false), (8, 64, true), (2, 8, false), (8, 20, false)] {
            let (k, v) = (cache(n, f, 11), cache(n, f, 12));
            let kc = quantize_cache(&k, f, size, bits, symmetric);
            let vc = quantize_cache(&v, f, size, bits, symmetric);
            let mut r = rng(13);
            let qf: Vec<f32> = (0..rows * f).map(|_| r()).collect();
            let (qq, qs) = quantize_tensor(&qf, 8);
            let os = 1.0 / 64.0;
            let got = keys(rows, Operand { q: &qq, zero_point: 0, scale: qs }, &kc, out(os)).expect("keys");
            let deq: Vec<f32> = qq.iter().map(|&x| x as f32 * qs).collect();
            let want = float_keys(&deq, &kc.dequantized(), rows, f);
            for (g, w) in got.iter().zip(&want) {
                assert!((*g as f32 * os - w).abs() <= os * 0.5001, "keys b{bits} g{size}: {} vs {w}", *g as f32 * os);
            }
            // Probabilities as LiteRT's int8 softmax writes them (scale 1/256, zero point -128).
            let ps = 1.0 / 256.0;
            let pq: Vec<i32> = (0..rows * n).map(|_| ((r() + 0.5) * 255.0) as i32 - 128).collect();
            let got = values(rows, Operand { q: &pq, zero_point: -128, scale: ps }, &vc, out(os)).expect("values");
            let pf: Vec<f32> = pq.iter().map(|&x| (x + 128) as f32 * ps).collect();
            let want = float_values(&pf, &vc.dequantized(), rows, f);
            for (g, w) in got.iter().zip(&want) {
                assert!((*g as f32 * os - w).abs() <= os * 0.5001, "values b{bits} g{size}: {} vs {w}", *g as f32 * os);
            }
        }
    }

    #[test]
    fn smaller_groups_keep_attention_closer_to_float() {
        // Against float attention's products on the unquantized cache: groups of 16 keep
        // the outlier feature from setting every feature's step, a whole row (64) does not.
        let (rows, n, f) = (2, 64, 64);
        let (k, v) = (cache(n, f, 21), cache(n, f, 22));
        let mut r = rng(23);
        let qf: Vec<f32> = (0..rows * f).map(|_| r()).collect();
        let (qq, qs) = quantize_tensor(&qf, 8);
        let pq: Vec<i32> = (0..rows * n).map(|_| ((r() + 0.5) * 255.0) as i32 - 128).collect();
        let ps = 1.0 / 256.0;
        let pf: Vec<f32> = pq.iter().map(|&x| (x + 128) as f32 * ps).collect();
        let deq: Vec<f32> = qq.iter().map(|&x| x as f32 * qs).collect();
        let (want_k, want_v) = (float_keys(&deq, &k, rows, f), float_values(&pf, &v, rows, f));
        let os = 1.0 / 1024.0;
        let err = |size: usize, bits: u8| {
            let (kc, vc) = (quantize_cache(&k, f, size, bits, true), quantize_cache(&v, f, size, bits, true));
            let s = keys(rows, Operand { q: &qq, zero_point: 0, scale: qs }, &kc, out(os)).expect("keys");
            let o = values(rows, Operand { q: &pq, zero_point: -128, scale: ps }, &vc, out(os)).expect("values");
            let s: Vec<f32> = s.iter().map(|&x| x as f32 * os).collect();
            let o: Vec<f32> = o.iter().map(|&x| x as f32 * os).collect();
            (worst(&s, &want_k), worst(&o, &want_v))
        };
        let (row4, g16_4, g16_8) = (err(64, 4), err(16, 4), err(16, 8));
        assert!(g16_4.0 < row4.0 && g16_4.1 < row4.1, "4-bit: groups of 16 {g16_4:?}, whole rows {row4:?}");
        assert!(g16_8.0 < g16_4.0 && g16_8.1 < g16_4.1, "groups of 16: 8-bit {g16_8:?}, 4-bit {g16_4:?}");
    }

    #[test]
    fn sums_that_could_leave_64_bits_are_refused() {
        let (n, f) = (2, 4);
        let vc = quantize_cache(&[1e4, 0.1, 0.1, 0.1, 1e-3, 1e-3, 1e-3, 1e-3], f, 4, 8, true);
        let p = vec![i32::MAX; 2 * n];
        let e = values(2, Operand { q: &p, zero_point: i32::MIN + 1, scale: 1.0 }, &vc, out(1.0)).unwrap_err();
        assert!(e.contains("at most 2^62 is exact") || e.contains("rescale factor"), "{e}");
        let e = values(3, Operand { q: &p, zero_point: 0, scale: 1.0 }, &vc, out(1.0)).unwrap_err();
        assert!(e.contains("4 probabilities for 3 rows of 2 positions"), "{e}");
    }
}
