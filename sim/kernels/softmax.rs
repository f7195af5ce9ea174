//! Integer SOFTMAX as LiteRT's reference kernels compute it (`reference/softmax.h`). For
//! 8-bit inputs: input differences to the row maximum are rescaled into a Q5.26
//! fixed-point number, exponentiated with gemmlowp's `exp_on_negative_values`, summed in
//! Q12.19, inverted with gemmlowp's Newton-Raphson `one_over_one_plus_x_for_x_in_0_1`,
//! and every output is `exp * (1 / sum)` shifted to the output type. For 16-bit inputs
//! (`SoftmaxInt16`): `exp` and `1 / (1 + x)` come from LiteRT's interpolated 513-entry
//! tables, built as its `LUTPopulateInt16<double>` builds them.

use super::fixedpoint::{multiply_by_quantized_multiplier, rounding_divide_by_pot, srdhm, QuantMultiplier};
use super::gemmlowp::{exp_on_negative_values, one_over_one_plus_x};

const SCALED_DIFF_INTEGER_BITS: i32 = 5;
const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// Fixed-point parameters of a softmax layer, from the input scale and beta.
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxParams {
    /// Q31 multiplier of `beta * input_scale * 2^(31 - 5)`.
    pub input_multiplier: i32,
    /// Its left shift.
    pub input_left_shift: i32,
    /// Differences below this give an output of the type's minimum.
    pub diff_min: i32,
}

impl SoftmaxParams {
    /// TFLite's `PreprocessSoftmaxScaling` and `CalculateInputRadius`.
    pub fn new(beta: f32, input_scale: f32) -> Self {
        let max_real = ((1i64 << 31) - 1) as f64;
        let real = (beta as f64 * input_scale as f64 * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64).min(max_real);
        let m = QuantMultiplier::from_real(real);
        let max_input_rescaled = ((1i64 << SCALED_DIFF_INTEGER_BITS) - 1) as f64
            * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64
            / (1i64 << m.shift.clamp(0, 62)) as f64;
        let radius = max_input_rescaled.floor() as i32;
        Self { input_multiplier: m.multiplier, input_left_shift: m.shift, diff_min: -radius }
    }
}

/// TFLite's `GetReciprocal`: 1 / x for a fixed-point x with `integer_digits` integer bits.
fn reciprocal(x: i32, integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = integer_digits - headroom_plus_one;
    let shifted_minus_one = ((x as u32).wrapping_shl(headroom_plus_one as u32)).wrapping_sub(1u32 << 31) as i32;
    (one_over_one_plus_x(shifted_minus_one), num_bits_over_unit)
}

/// Integer softmax over the last axis of `x` (rows of `depth`), to an output of
/// `out_bits` bits with zero point at the type's minimum (int8: scale 1/256, zp -128).
///
/// Every step after the row's maximum is a function of one value's difference to it, so a
/// row holding fewer distinct differences than values (a classifier's 1,001 logits in 8 bits
/// span at most 256) computes each difference's exponential and output once, in a table:
/// LiteRT's reference computes the exponential twice per value, which was 1.5% of a
/// MobileNet-v2 batch.
pub fn softmax(p: &SoftmaxParams, x: &[i32], depth: usize, in_min: i32, out_bits: u32) -> Vec<i32> {
    let out_min = -(1i32 << (out_bits - 1));
    let out_max = (1i32 << (out_bits - 1)) - 1;
    let mut out = vec![0i32; x.len()];
    let depth = depth.max(1);
    // `exp(diff)` in Q0.31, `None` below the input radius (whose output is the minimum).
    let exp = |diff: i32| -> Option<i32> {
        (diff >= p.diff_min).then(|| {
            let s = srdhm(diff.wrapping_mul(1i32.wrapping_shl(p.input_left_shift.max(0) as u32)), p.input_multiplier);
            exp_on_negative_values(s, SCALED_DIFF_INTEGER_BITS as u32)
        })
    };
    let (mut exps, mut outs) = (Vec::new(), Vec::new());
    for (row, orow) in x.chunks(depth).zip(out.chunks_mut(depth)) {
        let max = row.iter().copied().fold(in_min, i32::max);
        let lowest = row.iter().copied().fold(max, i32::min);
        // The row's differences `0..span` below the maximum, each with its exponential.
        let span = usize::try_from(i64::from(max) - i64::from(lowest) + 1).unwrap_or(usize::MAX);
        let tabled = span <= row.len();
        if tabled {
            exps.clear();
            exps.extend((0..span).map(|d| exp(-(d as i32))));
        }
        let exp_of = |v: i32| if tabled { exps[(max - v) as usize] } else { exp(v - max) };
        let sum = row.iter().fold(0i32, |sum, &v| {
            sum.wrapping_add(exp_of(v).map_or(0, |e| rounding_divide_by_pot(e, ACCUMULATION_INTEGER_BITS)))
        });
        let (shifted_scale, bits_over_unit) = reciprocal(sum, ACCUMULATION_INTEGER_BITS);
        let output = |e: Option<i32>| match e {
            Some(e) => {
                // A sum of many near-equal terms (hundreds of classes within the input
                // radius, e.g. an untrained network) puts the shift past 31: the
                // non-negative Q0.31 quotient divided by 2^32 or more rounds to 0.
                let shift = bits_over_unit + 31 - out_bits as i32;
                let unsat = if shift > 31 { 0 } else { rounding_divide_by_pot(srdhm(shifted_scale, e), shift.max(0)) };
                unsat.wrapping_add(out_min).clamp(out_min, out_max)
            }
            None => out_min,
        };
        if tabled {
            outs.clear();
            outs.extend(exps.iter().map(|&e| output(e)));
            orow.iter_mut().zip(row).for_each(|(o, &v)| *o = outs[(max - v) as usize]);
        } else {
            orow.iter_mut().zip(row).for_each(|(o, &v)| *o = output(exp_of(v)));
        }
    }
    out
}

/// LiteRT's `LUTPopulateInt16<double>`: 513 values of `f` on `[in_min, in_max]` in Q0.15
/// of an output range of [-1, 1] (`lut[512]` only gives the last slope), each sample biased
/// by half the error of interpolating its interval's midpoint.
fn int16_lut(f: impl Fn(f64) -> f64, input_scale: f64, input_zero_point: i32) -> [i16; 513] {
    let range = 65535.0f64;
    let input_min = input_scale * (i16::MIN as i32 - input_zero_point) as f64;
    let input_max = input_scale * (i16::MAX as i32 - input_zero_point) as f64;
    let output_scale = 2.0 / range;
    let (output_min, output_max) = (output_scale * i16::MIN as f64, output_scale * i16::MAX as f64);
    const STEPS: usize = 512;
    let step = (input_max - input_min) / STEPS as f64;
    let half_step = step / 2.0;
    let inv = 65536.0 / (output_max - output_min);
    let clamp = |v: f64| v.clamp(i16::MIN as f64, i16::MAX as f64) as i16;
    let mut lut = [0i16; STEPS + 1];
    for (i, e) in lut.iter_mut().enumerate().take(STEPS) {
        let val = f(input_min + i as f64 * step);
        let val_mid = f(input_min + i as f64 * step + half_step);
        let val_next = f(input_min + (i + 1) as f64 * step);
        let sample = (val * inv).round();
        let mid_interp = ((val_next * inv + (val * inv).round()) / 2.0).round();
        let mid = (val_mid * inv).round();
        let bias = ((mid_interp - mid) / 2.0).round();
        *e = clamp(sample - bias);
    }
    lut[STEPS] = clamp((f(input_max) * inv).round());
    lut
}

/// LiteRT's `generic_int16_table_lookup`: the table's value at the top 9 bits of `value`
/// plus the slope to the next entry times the low 7 bits (rounded).
fn lut_lookup(value: i16, lut: &[i16; 513]) -> i16 {
    let index = (256 + (value >> 7) as i32) as usize;
    let offset = (value & 0x7f) as i32;
    let base = lut[index];
    let slope = lut[index + 1].wrapping_sub(base) as i32;
    let delta = (slope * offset + 64) >> 7;
    (base as i32 + delta) as i16
}

/// Parameters of LiteRT's 16-bit softmax (int16 in, int16 out at scale 1/32768, zero
/// point 0): the input rescale and the `exp` and `1 / (1 + x)` tables.
#[derive(Debug, Clone)]
pub struct Softmax16 {
    /// The input difference rescaled so that [-65535, 0] stands for [-10, 0].
    pub input: QuantMultiplier,
    exp_lut: [i16; 513],
    one_over_one_plus_x_lut: [i16; 513],
}

impl Softmax16 {
    /// The tables and rescale of LiteRT's `SoftmaxPrepare` for an int16 input.
    pub fn new(beta: f32, input_scale: f32) -> Self {
        let range = 65535.0f64;
        let rescale = input_scale as f64 * beta as f64 / (10.0 / 65535.0);
        Self {
            input: QuantMultiplier::from_real(rescale),
            exp_lut: int16_lut(f64::exp, 10.0 / range, i16::MAX as i32),
            one_over_one_plus_x_lut: int16_lut(|x| 1.0 / (1.0 + x), 1.0 / range, i16::MIN as i32),
        }
    }
}

/// LiteRT's `SoftmaxInt16` over rows of `depth`: `exp(x - max)` from the table, the
/// reciprocal of the Q16.15 sum from the second table, and their rounded product.
pub fn softmax_int16(p: &Softmax16, x: &[i32], depth: usize) -> Vec<i32> {
    let mut out = vec![0i32; x.len()];
    let depth = depth.max(1);
    for (row, orow) in x.chunks(depth).zip(out.chunks_mut(depth)) {
        let max = row.iter().copied().fold(i16::MIN as i32, i32::max);
        let mut sum = 0i32;
        for (o, &v) in orow.iter_mut().zip(row) {
            let scaled = multiply_by_quantized_multiplier(v - max, p.input);
            let sym = scaled.wrapping_add(32767).clamp(-32768, 32767) as i16;
            let e = lut_lookup(sym, &p.exp_lut);
            *o = e as i32;
            sum = sum.wrapping_add(e as i32);
        }
        let headroom_plus_one = (sum as u32).leading_zeros() as i32;
        let shifted = (((sum as i64) << (headroom_plus_one - 1)) + (1 << 13)) >> 14;
        let sym = (shifted as i32).wrapping_sub((1 << 15) + (1 << 16)).clamp(-32768, 32767) as i16;
        let reciprocal = lut_lookup(sym, &p.one_over_one_plus_x_lut) as i64;
        let right_shift = 31 - headroom_plus_one;
        let round = 1i64 << (right_shift - 1);
        for o in orow.iter_mut() {
            let r = ((*o as i64 * reciprocal + round) >> right_shift) as i32;
            *o = r.clamp(0, 32767);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int16_softmax_splits_a_flat_row_and_favours_the_largest() {
        let p = Softmax16::new(1.0, 1e-3);
        let half = softmax_int16(&p, &[5, 5], 2);
        assert!(half.iter().all(|&v| (16383..=16384).contains(&v)), "{half:?}");
        // 20 apart at scale 1/1000 ... 0.02 in logits: e^0.02 / (1 + e^0.02) = 0.505.
        let y = softmax_int16(&p, &[-32768, 32767, 32747], 3);
        // The table stops at exp(-10) = 1.5 / 32768: far smaller logits keep that weight.
        assert_eq!(y[0], 1, "exp(-65.5) is taken as exp(-10)");
        assert!((y[1] - 16549).abs() <= 8 && y[1] > y[2], "{y:?}");
    }

    /// LiteRT's reference loop as it reads: both exponentials of every value computed.
    fn per_value(p: &SoftmaxParams, row: &[i32], in_min: i32, out_bits: u32) -> Vec<i32> {
        let (out_min, out_max) = (-(1i32 << (out_bits - 1)), (1i32 << (out_bits - 1)) - 1);
        let max = row.iter().copied().fold(in_min, i32::max);
        let scaled = |v: i32| {
            (v - max >= p.diff_min).then(|| srdhm((v - max) * (1 << p.input_left_shift.max(0)), p.input_multiplier))
        };
        let sum = row.iter().filter_map(|&v| scaled(v)).fold(0i32, |s, x| {
            s.wrapping_add(rounding_divide_by_pot(exp_on_negative_values(x, 5), ACCUMULATION_INTEGER_BITS))
        });
        let (scale, over) = reciprocal(sum, ACCUMULATION_INTEGER_BITS);
        let shift = over + 31 - out_bits as i32;
        row.iter()
            .map(|&v| match scaled(v) {
                Some(x) if shift <= 31 => {
                    let e = exp_on_negative_values(x, 5);
                    rounding_divide_by_pot(srdhm(scale, e), shift.max(0)).wrapping_add(out_min).clamp(out_min, out_max)
                }
                // The shift past 31: the quotient rounds to 0.
                Some(_) => out_min,
                None => out_min,
            })
            .collect()
    }

    /// Rows whose differences are tabled (more values than distinct differences) and rows
    /// computed value by value give LiteRT's numbers, at input scales that put some values
    /// past the input radius.
    #[test]
    fn tabled_rows_equal_the_reference_loop() {
        let mut next = crate::kernels::xorshift(0x9E37_79B9);
        for (scale, depth, bits, out_bits) in [
            (0.05, 1001, 8, 8),
            (0.2, 1001, 8, 8),
            (0.01, 300, 8, 8),
            (0.1, 7, 8, 8),
            (0.05, 40, 4, 8),
            (0.1, 64, 8, 2),
        ] {
            let p = SoftmaxParams::new(1.0, scale);
            let (in_min, in_max) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
            let x: Vec<i32> = (0..3 * depth).map(|_| next(in_min, in_max) as i32).collect();
            let in_min = in_min as i32;
            let got = softmax(&p, &x, depth, in_min, out_bits);
            for (r, row) in x.chunks(depth).enumerate() {
                assert_eq!(got[r * depth..][..depth], per_value(&p, row, in_min, out_bits)[..], "{scale} {depth}");
            }
        }
    }

    #[test]
    fn a_flat_row_of_a_thousand_classes_rounds_to_zero_instead_of_panicking() {
        let p = SoftmaxParams::new(1.0, 0.05);
        let out = softmax(&p, &vec![3i32; 1000], 1000, -128, 8);
        // 1/1000 at scale 1/256 is 0.256 steps: every output is the zero point.
        assert!(out.iter().all(|&v| v == -128), "{:?}", &out[..4]);
        let two = softmax(&p, &[100, -128], 2, -128, 8);
        assert!(two[0] > 100 && two[1] == -128, "{two:?}");
    }

    /// A 2-bit output of a uniform row of 64: each probability is 1/64, a sixteenth of the
    /// output's LSB (1/4), so every output is the minimum; the final shift passes 31 there.
    #[test]
    fn narrow_outputs_of_small_probabilities_round_to_the_minimum() {
        let p = SoftmaxParams::new(1.0, 0.05);
        let out = softmax(&p, &[3; 64], 64, -128, 2);
        assert_eq!(out, vec![-2; 64]);
        // At 8 bits the same row gives 1/64 = 4/256: -128 + 4.
        assert_eq!(softmax(&p, &[3; 64], 64, -128, 8), vec![-124; 64]);
    }
}
