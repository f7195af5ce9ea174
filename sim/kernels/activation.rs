//! Integer element-wise unary kernels as LiteRT's reference kernels compute them
//! (`kernels/activations.cc` and `internal/reference/`):
//!
//! - LOGISTIC and TANH at 8 bits: a lookup table over every input value, built in float
//!   (`PopulateLookupTable`: dequantize, the float function, `round(y / out_scale) + zp`,
//!   clamped); at 16 bits LiteRT's interpolated fixed-point sigmoid table.
//! - RELU, RELU6, RELU_N1_TO_1 (`ReluX`): a rescale to the output's parameters and a clamp
//!   to the activation's range on them.
//! - LEAKY_RELU (`QuantizeLeakyRelu`): one multiplier for non-negative inputs, another (with
//!   alpha folded in) for negative ones.
//! - ONNX HardSigmoid (no LiteRT operator): a lookup table with ONNX QDQ arithmetic
//!   (`Lut::from_float_qdq`), equal to the exact QDQ reference by construction.
//! - HARD_SWISH (`reference/hard_swish.h`): 16-bit fixed point, a "relu-ish" factor in [0, 1]
//!   times the input on the output scale.
//!
//! Multipliers are computed from products and quotients of `float` scales as LiteRT's
//! `Prepare` functions do (float arithmetic, then widened to double).

use super::elementwise;
use super::fixedpoint::{inv_sqrt_multiplier_exp, multiply_by_quantized_multiplier, QuantMultiplier};

/// A table of outputs indexed by `input - min` over the input type's whole range.
#[derive(Debug, Clone)]
pub struct Lut {
    /// The smallest input.
    pub min: i32,
    /// One output per input value from `min` up.
    pub table: Vec<i32>,
}

impl Lut {
    /// LiteRT's `PopulateLookupTable`: for every input value `q`, `f(s_in * (q - z_in))` in
    /// float, divided by the output scale, rounded (half away from zero), plus the output zero
    /// point, clamped to the output range.
    pub fn from_float(
        f: impl Fn(f32) -> f32,
        input: (f32, i32),
        output: (f32, i32),
        in_range: (i32, i32),
        out_range: (i32, i32),
    ) -> Lut {
        let inverse_scale = 1.0f32 / output.0;
        let table = (in_range.0..=in_range.1)
            .map(|q| {
                let x = input.0 * (q - input.1) as f32;
                let rescaled = (f(x) * inverse_scale).round();
                ((rescaled + output.1 as f32) as i32).clamp(out_range.0, out_range.1)
            })
            .collect();
        Lut { min: in_range.0, table }
    }

    /// The same table with ONNX QDQ arithmetic (`DequantizeLinear`, the float function,
    /// `QuantizeLinear`: `y / out_scale` rounded half to even, plus the zero point), then
    /// clamped to `out_range`: what an ONNX runtime computes for a float op between a
    /// DequantizeLinear and a QuantizeLinear, for ops LiteRT has no integer kernel for
    /// (HardSigmoid).
    pub fn from_float_qdq(
        f: impl Fn(f32) -> f32,
        input: (f32, i32),
        output: (f32, i32),
        in_range: (i32, i32),
        out_range: (i32, i32),
    ) -> Lut {
        let q: Vec<i32> = (in_range.0..=in_range.1).collect();
        let y: Vec<f32> = elementwise::dequantize(&q, input.0, input.1).into_iter().map(f).collect();
        let table = elementwise::quantize_half_even(&y, output.0, output.1, out_range.0, out_range.1);
        Lut { min: in_range.0, table }
    }

    /// Looks every value up (values outside the input range clamp to its ends).
    pub fn apply(&self, x: &[i32]) -> Vec<i32> {
        let last = self.table.len().saturating_sub(1);
        x.iter().map(|&v| self.table[((v as i64 - self.min as i64).max(0) as usize).min(last)]).collect()
    }
}

/// LiteRT's table of `sigmoid(i / 24)` in Q0.16 for i in 0..256 (`sigmoid_table_uint16`
/// in `kernels/internal/common.h`). The values are data, not a formula: some entries are
/// one above `round(2^16 sigmoid(i / 24))`, so they are taken as LiteRT has them.
#[rustfmt::skip]
const SIGMOID_Q16: [u32; 256] = [
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498,
    40149, 40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255,
    46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865,
    52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174,
    56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544, 58800, 59048, 59288,
    59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279, 61441,
    61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886,
    62990, 63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835,
    63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450,
    64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845,
    64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097,
    65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425,
    65429, 65433, 65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465,
    65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508,
    65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516, 65517, 65517, 65518,
    65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524, 65525,
    65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529,
    65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531,
    65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533,
    65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65535
];

/// LiteRT's 16-bit LOGISTIC and TANH (`reference_integer_ops::Logistic` / `Tanh` on int16):
/// the input rescaled so that 2^17 stands for 10.7, then a linear interpolation in
/// [`SIGMOID_Q16`] (tanh(x) = 2 sigmoid(2x) - 1 reads the same table at twice the step).
#[derive(Debug, Clone, Copy)]
pub struct Int16Sigmoid {
    /// The input multiplier (3 times a power of two for power-of-two input scales).
    pub multiplier: i32,
    /// The right shift after it.
    pub shift: i32,
    /// The input zero point (LiteRT requires 0; subtracted first otherwise).
    pub zp_in: i32,
    /// TANH (else LOGISTIC).
    pub tanh: bool,
}

/// TFLite's `CheckedLog2`: the rounded log2 of a scale, if the scale is a power of two
/// (within 1e-3 in the exponent).
fn checked_log2(x: f32) -> (i32, bool) {
    let l = x.ln() * (1.0f32 / 2f32.ln());
    let r = l.round();
    (r as i32, (l - r).abs() < 1e-3)
}

impl Int16Sigmoid {
    /// `SigmoidPrepare` / `TanhPrepare` for int16: a power-of-two input scale of 2^-12 or
    /// 2^-11 multiplies by 3 (or 6); any other scale gets `scale * 3 * 4096` doubled until
    /// above 2^14 and the matching right shift.
    pub fn new(input_scale: f32, zp_in: i32, tanh: bool) -> Self {
        const INPUT_INTEGER_BITS: i32 = 3;
        let (log2, pot) = checked_log2(input_scale);
        let left_shift = (15 - INPUT_INTEGER_BITS) + log2;
        if pot && (left_shift == 0 || left_shift == 1) {
            return Int16Sigmoid { multiplier: 3 << left_shift, shift: 0, zp_in, tanh };
        }
        let mut multiplier = input_scale as f64 * 4096.0 * 3.0;
        let mut shift = 0;
        while multiplier <= 32767.0 / 2.0 && shift <= 30 {
            shift += 1;
            multiplier *= 2.0;
        }
        Int16Sigmoid { multiplier: multiplier as i32, shift, zp_in, tanh }
    }
}

/// Runs the 16-bit LOGISTIC or TANH; outputs at scale 2^-15, zero point 0.
pub fn int16_sigmoid(p: &Int16Sigmoid, x: &[i32]) -> Vec<i32> {
    let round = if p.shift > 0 { 1i64 << (p.shift - 1) } else { 0 };
    x.iter()
        .map(|&v| {
            let input = (((v - p.zp_in) as i64 * p.multiplier as i64 + round) >> p.shift) as i32;
            let abs = input.unsigned_abs();
            if p.tanh {
                let uh = abs >> 8;
                let result: i32 = if uh >= 255 {
                    0xFFFF << 8
                } else {
                    let (ua, ub) = (SIGMOID_Q16[uh as usize], SIGMOID_Q16[uh as usize + 1]);
                    ((ua << 8).wrapping_add((abs & 0xFF).wrapping_mul(ub.wrapping_sub(ua)))) as i32
                };
                let r = if input >= 0 { result - (1 << 23) + (1 << 7) } else { -result + (1 << 23) + (1 << 7) - 1 };
                (r >> 8) as i16 as i32
            } else {
                let uh = abs >> 9;
                let result: u32 = if uh >= 255 {
                    0x7FFF << 10
                } else {
                    let (ua, ub) = (SIGMOID_Q16[uh as usize], SIGMOID_Q16[uh as usize + 1]);
                    (ua << 9).wrapping_add((abs & 0x1FF).wrapping_mul(ub.wrapping_sub(ua)))
                };
                let r = if input >= 0 {
                    result.wrapping_add(1 << 9)
                } else {
                    (1u32 << 25).wrapping_sub(result).wrapping_add((1 << 9) - 1)
                };
                (r >> 10) as i16 as i32
            }
        })
        .collect()
}

/// LiteRT's `ReluX`: `zo + (x - zi) * m`, clamped to `[lo, hi]`.
#[derive(Debug, Clone, Copy)]
pub struct RescaleClamp {
    /// Input zero point.
    pub zp_in: i32,
    /// Input to output rescale.
    pub m: QuantMultiplier,
    /// Output zero point.
    pub zp_out: i32,
    /// Clamp (the activation's range on the output, within the type's).
    pub range: (i32, i32),
}

/// Runs [`RescaleClamp`].
pub fn rescale_clamp(p: &RescaleClamp, x: &[i32]) -> Vec<i32> {
    x.iter()
        .map(|&v| {
            p.zp_out.saturating_add(multiply_by_quantized_multiplier(v - p.zp_in, p.m)).clamp(p.range.0, p.range.1)
        })
        .collect()
}

/// A quantized NEG: LiteRT's int8 kernel (`reference_integer_ops::Negate`: input and output
/// of one scale, `out = zp_in + zp_out - x` saturated) when the scales are equal; otherwise
/// (a graph quantized with the output's own parameters) `zp_in - x` rescaled to the output
/// as a RELU's rescale is, which is the same arithmetic at a multiplier of 1.
#[derive(Debug, Clone, Copy)]
pub struct NegParams {
    /// Input zero point.
    pub zp_in: i32,
    /// Input to output rescale, `None` for equal scales (LiteRT's kernel).
    pub m: Option<QuantMultiplier>,
    /// Output zero point.
    pub zp_out: i32,
    /// Clamp (the output type's range).
    pub range: (i32, i32),
}

impl NegParams {
    /// From the input's and output's `(scale, zero point)` and the output clamp.
    pub fn new((si, zi): (f32, i32), (so, zo): (f32, i32), range: (i32, i32)) -> Self {
        let m = (si != so).then(|| QuantMultiplier::from_real((si / so) as f64));
        NegParams { zp_in: zi, m, zp_out: zo, range }
    }
}

/// Runs [`NegParams`].
pub fn neg(p: &NegParams, x: &[i32]) -> Vec<i32> {
    x.iter()
        .map(|&v| {
            let d = p.zp_in.saturating_sub(v);
            let d = match p.m {
                None => d,
                Some(m) => multiply_by_quantized_multiplier(d, m),
            };
            p.zp_out.saturating_add(d).clamp(p.range.0, p.range.1)
        })
        .collect()
}

/// LiteRT's int8 RSQRT (`elementwise.cc`, `RsqrtEvalQuantized`): for `v = q - z_in`, the
/// inverse square root of `v` by [`inv_sqrt_multiplier_exp`] applied to 1 with 20 extra bits,
/// then rescaled by `1 / (sqrt(s_in) * s_out)` and offset by the output zero point, saturated
/// to int8; `v = 0` gives 127 and `v < 0` is an error, as in LiteRT.
#[derive(Debug, Clone, Copy)]
pub struct RsqrtParams {
    /// Input zero point.
    pub zp_in: i32,
    /// `1 / (sqrt(s_in) * s_out)`, as LiteRT computes it (a float square root and product).
    pub m: QuantMultiplier,
    /// Output zero point.
    pub zp_out: i32,
}

impl RsqrtParams {
    /// From the input's and output's `(scale, zero point)`.
    pub fn new((si, zi): (f32, i32), (so, zo): (f32, i32)) -> Self {
        let m = QuantMultiplier::from_real(1.0 / f64::from(si.sqrt() * so));
        RsqrtParams { zp_in: zi, m, zp_out: zo }
    }
}

/// Runs [`RsqrtParams`]; an input below the zero point (a negative real value) is an error.
pub fn rsqrt(p: &RsqrtParams, x: &[i32]) -> Result<Vec<i32>, String> {
    const SHIFT: i32 = 20;
    x.iter()
        .map(|&q| {
            let v = q.wrapping_sub(p.zp_in);
            if v < 0 {
                return Err(format!("RSQRT of a negative value (input {q} below its zero point {})", p.zp_in));
            }
            if v == 0 {
                return Ok(127);
            }
            let inv = inv_sqrt_multiplier_exp(v, -1);
            let data = multiply_by_quantized_multiplier(1, QuantMultiplier { shift: inv.shift + SHIFT, ..inv });
            let out = multiply_by_quantized_multiplier(data, QuantMultiplier { shift: p.m.shift - SHIFT, ..p.m });
            Ok(out.wrapping_add(p.zp_out).clamp(-128, 127))
        })
        .collect()
}

/// LiteRT's quantized LEAKY_RELU.
#[derive(Debug, Clone, Copy)]
pub struct LeakyReluParams {
    /// Input zero point.
    pub zp_in: i32,
    /// Output zero point.
    pub zp_out: i32,
    /// `s_in / s_out` for non-negative inputs.
    pub identity: QuantMultiplier,
    /// `s_in * alpha / s_out` for negative inputs.
    pub alpha: QuantMultiplier,
    /// The output type's range.
    pub range: (i32, i32),
}

impl LeakyReluParams {
    /// `LeakyReluPrepare`: the multipliers from float products of the scales and alpha.
    pub fn new(input: (f32, i32), output: (f32, i32), alpha: f32, range: (i32, i32)) -> Self {
        LeakyReluParams {
            zp_in: input.1,
            zp_out: output.1,
            identity: QuantMultiplier::from_real((input.0 / output.0) as f64),
            alpha: QuantMultiplier::from_real((input.0 * alpha / output.0) as f64),
            range,
        }
    }
}

/// Runs LEAKY_RELU (`QuantizeLeakyRelu`).
pub fn leaky_relu(p: &LeakyReluParams, x: &[i32]) -> Vec<i32> {
    x.iter()
        .map(|&v| {
            let d = v - p.zp_in;
            let m = if d >= 0 { p.identity } else { p.alpha };
            p.zp_out.saturating_add(multiply_by_quantized_multiplier(d, m)).clamp(p.range.0, p.range.1)
        })
        .collect()
}

/// LiteRT's quantized HARD_SWISH parameters (`HardSwishPrepare`).
#[derive(Debug, Clone, Copy)]
pub struct HardSwishParams {
    /// Input zero point.
    pub zp_in: i32,
    /// Output zero point.
    pub zp_out: i32,
    /// Q15 multiplier from the high-resolution input scale to the output scale.
    pub output_multiplier: i16,
    /// Its exponent (never positive).
    pub output_exponent: i32,
    /// Q15 multiplier from the high-resolution input scale to the "relu-ish" scale (3.0 on 2^15).
    pub reluish_multiplier: i16,
    /// Its exponent.
    pub reluish_exponent: i32,
    /// The output type's range.
    pub range: (i32, i32),
}

/// TFLite's `DownScaleInt32ToInt16Multiplier`: a Q31 multiplier rounded to Q15.
fn downscale_to_i16(m: i32) -> i16 {
    const ROUNDING: i32 = 1 << 15;
    if m >= i32::MAX - ROUNDING {
        i16::MAX
    } else {
        ((m + ROUNDING) >> 16) as i16
    }
}

impl HardSwishParams {
    /// `HardSwishPrepare`, or why the output scale is out of the kernel's reach (an output
    /// multiplier above 1, which LiteRT refuses too).
    pub fn new(input: (f32, i32), output: (f32, i32), range: (i32, i32)) -> Result<Self, String> {
        let hires_input_scale = (1.0f32 / 128.0) * input.0;
        let reluish_scale = 3.0f32 / 32768.0;
        let out = QuantMultiplier::from_real((hires_input_scale / output.0) as f64);
        if out.shift > 0 {
            return Err(format!(
                "HARD_SWISH needs an output scale of at least the input scale / 128 (input {}, output {})",
                input.0, output.0
            ));
        }
        let reluish = QuantMultiplier::from_real((hires_input_scale / reluish_scale) as f64);
        Ok(HardSwishParams {
            zp_in: input.1,
            zp_out: output.1,
            output_multiplier: downscale_to_i16(out.multiplier),
            output_exponent: out.shift,
            reluish_multiplier: downscale_to_i16(reluish.multiplier),
            reluish_exponent: reluish.shift,
            range,
        })
    }
}

/// gemmlowp's 16-bit `SaturatingRoundingDoublingHighMul`.
fn srdhm16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let ab = a as i32 * b as i32;
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// The 16-bit `SaturatingDoublingHighMul` (truncating, like ARM's SQDMULH).
fn sdhm16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((a as i32 * b as i32) / (1 << 15)) as i16
}

/// A 16-bit left shift, saturated.
fn saturating_left_shift16(v: i16, amount: i32) -> i16 {
    ((v as i64) << amount).clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

/// gemmlowp's `RoundingDivideByPOT` on 16 bits.
fn rounding_divide_by_pot16(x: i16, exponent: i32) -> i16 {
    let mask = ((1i32 << exponent) - 1) as i16;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i16;
    (x >> exponent) + (remainder > threshold) as i16
}

/// Runs HARD_SWISH (`reference_ops::HardSwish` with parameters).
pub fn hard_swish(p: &HardSwishParams, x: &[i32]) -> Vec<i32> {
    x.iter()
        .map(|&v| {
            let input = (v - p.zp_in) as i16;
            let hires = input.wrapping_mul(1 << 7);
            let preshift_output = srdhm16(hires, p.output_multiplier);
            let mut reluish = hires;
            if p.reluish_exponent > 0 {
                reluish = saturating_left_shift16(reluish, p.reluish_exponent - 1);
            }
            reluish = srdhm16(reluish, p.reluish_multiplier);
            if p.reluish_exponent > 0 {
                reluish = saturating_left_shift16(reluish, 1);
            }
            if p.reluish_exponent < 0 {
                reluish = rounding_divide_by_pot16(reluish, -p.reluish_exponent);
            }
            let reluish = ((reluish as i32 + (1 << 15)) >> 1) as i16;
            let preshift = sdhm16(reluish, preshift_output);
            let out = rounding_divide_by_pot16(preshift, -p.output_exponent).wrapping_add(p.zp_out as i16);
            (out as i32).clamp(p.range.0, p.range.1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    /// RSQRT at scale 1 in, 1/64 out: 1/sqrt(4) = 0.5 is 32, 1/sqrt(16) = 0.25 is 16, 0 is
    /// the largest output, and a value below the zero point is an error as in LiteRT.
    #[test]
    fn rsqrt_by_hand() {
        let p = RsqrtParams::new((1.0, 0), (1.0 / 64.0, 0));
        assert_eq!(rsqrt(&p, &[4, 16, 0, 1]).unwrap(), [32, 16, 127, 64]);
        let e = rsqrt(&p, &[-1]).unwrap_err();
        assert!(e.contains("negative"), "{e}");
    }

    /// Equal scales: LiteRT's `zp_in + zp_out - x`, saturated to int8; other scales: the
    /// rescaled difference.
    #[test]
    fn neg_is_litert_int8_kernel_at_equal_scales() {
        let p = NegParams::new((0.5, -3), (0.5, 5), (-128, 127));
        assert!(p.m.is_none());
        assert_eq!(neg(&p, &[-128, 0, 127, -126]), [127, 2, -125, 127]);
        let p = NegParams::new((0.5, 0), (0.25, 0), (-128, 127));
        assert_eq!(neg(&p, &[10, -10, 100]), [-20, 20, -128]);
    }

    use super::*;

    #[test]
    fn logistic_table_has_the_fixed_output_ends() {
        let lut =
            Lut::from_float(|x| 1.0 / (1.0 + (-x).exp()), (0.1, 0), (1.0 / 256.0, -128), (-128, 127), (-128, 127));
        assert_eq!(lut.apply(&[-128, 0, 127]), vec![-128, 0, 127]);
    }

    #[test]
    fn qdq_table_rounds_half_to_even_where_litert_rounds_away() {
        let (i, o, r) = ((1.0, 0), (2.0, 0), (-4, 3));
        let x = [-3, -1, 1, 3];
        assert_eq!(Lut::from_float_qdq(|v| v, i, o, r, (-128, 127)).apply(&x), vec![-2, 0, 0, 2]);
        assert_eq!(Lut::from_float(|v| v, i, o, r, (-128, 127)).apply(&x), vec![-2, -1, 1, 2]);
        // Clamped to the output range after the zero point.
        assert_eq!(Lut::from_float_qdq(|v| v, i, (1.0, 1), r, (-2, 2)).apply(&[-4, 3]), vec![-2, 2]);
    }

    #[test]
    fn hard_swish_is_zero_below_minus_three_and_identity_above_three() {
        // Input scale 0.05 (zp 0), output scale 0.05 (zp -10).
        let p = HardSwishParams::new((0.05, 0), (0.05, -10), (-128, 127)).unwrap();
        let y = hard_swish(&p, &[-100, 0, 100]);
        assert_eq!(y[0], -10);
        assert_eq!(y[1], -10);
        assert!((y[2] - 90).abs() <= 1, "{y:?}");
    }

    #[test]
    fn leaky_relu_scales_negative_inputs_by_alpha() {
        let p = LeakyReluParams::new((0.1, 0), (0.1, 0), 0.5, (-128, 127));
        assert_eq!(leaky_relu(&p, &[-10, 10]), vec![-5, 10]);
    }
}
