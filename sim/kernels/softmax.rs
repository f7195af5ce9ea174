//! Integer SOFTMAX as LiteRT's reference kernel computes it for 8-bit inputs
//! (`reference/softmax.h`): input differences to the row maximum are rescaled into a Q5.26
//! fixed-point number, exponentiated with gemmlowp's `exp_on_negative_values`, summed in
//! Q12.19, inverted with gemmlowp's Newton-Raphson `one_over_one_plus_x_for_x_in_0_1`,
//! and every output is `exp * (1 / sum)` shifted to the output type.

use super::fixedpoint::{rounding_divide_by_pot, saturating_left_shift, srdhm, QuantMultiplier};

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

/// gemmlowp's `exp_on_interval_between_negative_one_quarter_and_0_excl` (Q0.31 in and out).
fn exp_on_interval(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1895147668; // exp(-1/8)
    const ONE_THIRD: i32 = 715827883;
    let x = a.wrapping_add(1 << 28);
    let x2 = srdhm(x, x);
    let x3 = srdhm(x2, x);
    let x4 = srdhm(x2, x2);
    let x4_over_4 = rounding_divide_by_pot(x4, 2);
    let poly = rounding_divide_by_pot(srdhm(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2), 1);
    CONSTANT_TERM.wrapping_add(srdhm(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// gemmlowp's `exp_on_negative_values` for a Q5.26 input; Q0.31 output.
pub fn exp_on_negative_values(a: i32) -> i32 {
    const FRACTIONAL_BITS: i32 = 31 - SCALED_DIFF_INTEGER_BITS;
    let one_quarter = 1i32 << (FRACTIONAL_BITS - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval(saturating_left_shift(a_mod_quarter_minus_one_quarter, SCALED_DIFF_INTEGER_BITS));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    const BARREL: [(i32, i32); 7] =
        [(-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401), (4, 242)];
    for (exponent, multiplier) in BARREL {
        if SCALED_DIFF_INTEGER_BITS > exponent {
            let shift = FRACTIONAL_BITS + exponent;
            if remainder & (1 << shift) != 0 {
                result = srdhm(result, multiplier);
            }
        }
    }
    if a == 0 {
        i32::MAX
    } else {
        result
    }
}

/// gemmlowp's `one_over_one_plus_x_for_x_in_0_1` (Q0.31 in and out).
fn one_over_one_plus_x(a: i32) -> i32 {
    let sum = a as i64 + i32::MAX as i64;
    let half_denominator = ((sum + if sum >= 0 { 1 } else { -1 }) / 2) as i32;
    const C48_17: i32 = 1515870810;
    const CNEG32_17: i32 = -1010580540;
    let mut x = C48_17.wrapping_add(srdhm(half_denominator, CNEG32_17));
    let one_q2 = 1i32 << 29;
    for _ in 0..3 {
        let hdx = srdhm(half_denominator, x);
        let one_minus = one_q2.wrapping_sub(hdx);
        // A Q2 x Q2 product is Q4; Rescale<2> of it is a saturating left shift by 2.
        x = x.wrapping_add(saturating_left_shift(srdhm(x, one_minus), 2));
    }
    saturating_left_shift(x, 1)
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
pub fn softmax(p: &SoftmaxParams, x: &[i32], depth: usize, in_min: i32, out_bits: u32) -> Vec<i32> {
    let out_min = -(1i32 << (out_bits - 1));
    let out_max = (1i32 << (out_bits - 1)) - 1;
    let mut out = vec![0i32; x.len()];
    let depth = depth.max(1);
    for (row, orow) in x.chunks(depth).zip(out.chunks_mut(depth)) {
        let max = row.iter().copied().fold(in_min, i32::max);
        let scaled = |v: i32| -> Option<i32> {
            let diff = v - max;
            (diff >= p.diff_min).then(|| {
                srdhm(diff.wrapping_mul(1i32.wrapping_shl(p.input_left_shift.max(0) as u32)), p.input_multiplier)
            })
        };
        let mut sum = 0i32;
        for &v in row {
            if let Some(s) = scaled(v) {
                sum = sum.wrapping_add(rounding_divide_by_pot(exp_on_negative_values(s), ACCUMULATION_INTEGER_BITS));
            }
        }
        let (shifted_scale, bits_over_unit) = reciprocal(sum, ACCUMULATION_INTEGER_BITS);
        for (o, &v) in orow.iter_mut().zip(row) {
            *o = match scaled(v) {
                Some(s) => {
                    let e = exp_on_negative_values(s);
                    // A sum of many near-equal terms (hundreds of classes within the input
                    // radius, e.g. an untrained network) puts the shift past 31: the
                    // non-negative Q0.31 quotient divided by 2^32 or more rounds to 0.
                    let shift = bits_over_unit + 31 - out_bits as i32;
                    let unsat =
                        if shift > 31 { 0 } else { rounding_divide_by_pot(srdhm(shifted_scale, e), shift.max(0)) };
                    unsat.wrapping_add(out_min).clamp(out_min, out_max)
                }
                None => out_min,
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
