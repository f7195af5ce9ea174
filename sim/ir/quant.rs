//! Element types and quantization parameters of IR tensors.

use super::Activation;
use std::fmt;

/// The element type of a tensor: a float, or an integer of any width from 1 to 32 bits
/// (stored widened in memory by the functional kernels, but costed at its real width).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// IEEE single precision.
    F32,
    /// IEEE half precision (NVDLA's fp16 mode).
    F16,
    /// A two's-complement or unsigned integer of `bits` bits.
    Int {
        /// Width in bits, 1..=32 (64 for wide biases).
        bits: u8,
        /// Whether the integer is signed.
        signed: bool,
    },
}

impl DataType {
    /// A signed integer type of the given width.
    pub const fn int(bits: u8) -> Self {
        DataType::Int { bits, signed: true }
    }

    /// Storage width of one element in bits (packed).
    pub const fn bits(self) -> u32 {
        match self {
            DataType::F32 => 32,
            DataType::F16 => 16,
            DataType::Int { bits, .. } => bits as u32,
        }
    }

    /// Whether this is an integer type.
    pub const fn is_int(self) -> bool {
        matches!(self, DataType::Int { .. })
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::F32 => write!(f, "f32"),
            DataType::F16 => write!(f, "f16"),
            DataType::Int { bits, signed: true } => write!(f, "i{bits}"),
            DataType::Int { bits, signed: false } => write!(f, "u{bits}"),
        }
    }
}

/// Dynamic activation scales (`accelsim run --act-scales dynamic`), as W8A8 / W4A8 LLM
/// runtimes quantize: activations are held between layers at their tensors' width (16 bits,
/// the fp16 those runtimes keep), and every matrix product with constant weights quantizes
/// its input when it runs, to `bits`, with one scale per row -- per token for a fully
/// connected layer, per image for a convolution -- and with `zero_point`, one zero point per
/// row. The scales are found (a range per row) and used on chip; the cost model prices that
/// work on the vector unit (`map::tiling::DynamicInput`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DynamicActivations {
    /// The width each row is quantized to; the matrix product runs in a mode of this width.
    pub bits: u8,
    /// Whether each row has a zero point (asymmetric rows).
    pub zero_point: bool,
}

/// Group-wise weight quantization as the cost model sees it: one scale (and, for asymmetric
/// weights, one zero point) per `size` consecutive weights along the reduction axis of each
/// output channel (`W4 g128`). The scales and zero points are stored, moved and read at
/// their own widths beside the packed weights; a group's partial sum is rescaled once
/// (`Widths::group_ops` in `map/tiling.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WeightGroups {
    /// Weights per group along the reduction axis (at least 1).
    pub size: u32,
    /// Bits of one group's scale (16: an fp16 scale).
    pub scale_bits: u8,
    /// Bits of one group's zero point; 0 for symmetric weights (no zero point).
    pub zero_point_bits: u8,
}

impl WeightGroups {
    /// Bits stored per group: its scale and its zero point.
    pub const fn bits_per_group(self) -> u32 {
        self.scale_bits as u32 + self.zero_point_bits as u32
    }

    /// Groups of one output channel whose reduction axis has `reduction` weights (a ragged
    /// last group is a group).
    pub fn groups(self, reduction: u64) -> u64 {
        reduction.div_ceil(u64::from(self.size.max(1)))
    }

    /// Bits of `k` output channels' weights of `reduction` elements each at `weight_bits`,
    /// with their groups' scales and zero points.
    pub fn weight_bits(self, k: u64, reduction: u64, weight_bits: u32) -> u64 {
        let packed = k.saturating_mul(reduction).saturating_mul(u64::from(weight_bits));
        let groups = k.saturating_mul(self.groups(reduction));
        packed.saturating_add(groups.saturating_mul(u64::from(self.bits_per_group())))
    }
}

impl fmt::Display for WeightGroups {
    /// `g128` (fp16 scales), `g128+z4` with a zero point of 4 bits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "g{}", self.size)?;
        if self.zero_point_bits > 0 {
            write!(f, "+z{}", self.zero_point_bits)?;
        }
        Ok(())
    }
}

/// Affine quantization `real = scale * (q - zero_point)`, per tensor or per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantParams {
    /// One scale per tensor, or one per channel along `axis`.
    pub scales: Vec<f32>,
    /// Zero points, the same length as `scales`.
    pub zero_points: Vec<i64>,
    /// The channel axis for per-channel quantization; `None` for per-tensor.
    pub axis: Option<usize>,
}

impl QuantParams {
    /// Per-tensor parameters.
    pub fn per_tensor(scale: f32, zero_point: i64) -> Self {
        Self { scales: vec![scale], zero_points: vec![zero_point], axis: None }
    }

    /// The activation that a per-tensor quantized output of type `dtype` implies, for the
    /// float reference of a quantized graph. Converters (TOCO's
    /// `RemoveTrivialQuantizedActivationFunc`, legacy uint8 models) drop a fused RELU,
    /// RELU6 or RELU_N1_TO_1 when the output's quantized range already clamps to it, so a
    /// range starting at exactly 0 (zero point = the type's minimum) implies RELU, and
    /// RELU6 when it also ends at 6 (to half a step); -1..1 implies RELU_N1_TO_1. Anything
    /// else implies no activation (per-channel and float outputs included).
    pub fn implied_activation(&self, dtype: DataType) -> Activation {
        let DataType::Int { bits: bits @ 1..=32, signed } = dtype else { return Activation::None };
        if self.is_per_channel() {
            return Activation::None;
        }
        let (qmin, qmax) =
            if signed { (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1) } else { (0, (1i64 << bits) - 1) };
        let (s, z) = self.channel(0);
        let (lo, hi) = ((qmin - z) as f64 * s as f64, (qmax - z) as f64 * s as f64);
        let near = |a: f64, b: f64| (a - b).abs() <= s as f64 / 2.0;
        if z == qmin {
            if near(hi, 6.0) {
                Activation::Relu6
            } else {
                Activation::Relu
            }
        } else if near(lo, -1.0) && near(hi, 1.0) {
            Activation::ReluN1To1
        } else {
            Activation::None
        }
    }

    /// Whether there is one scale per channel.
    pub fn is_per_channel(&self) -> bool {
        self.axis.is_some() && self.scales.len() > 1
    }

    /// The one validation of quantization parameters, run by [`super::Graph::validate`] and
    /// so by every reader (`.tflite`, `.onnx`, `.aqm`, model TOML): scales finite and
    /// positive, zero points inside the element type's range, one zero point per scale (or
    /// a single shared one), and per-channel parameters on an existing axis with one pair
    /// per channel. The message names the offending field and value.
    pub fn check(&self, dtype: DataType, shape: &[usize]) -> Result<(), String> {
        self.check_values(dtype)?;
        if self.scales.len() > 1 {
            let Some(axis) = self.axis else {
                return Err(format!("{} scales but no quantized dimension", self.scales.len()));
            };
            let Some(&channels) = shape.get(axis) else {
                return Err(format!("quantized dimension {axis} of a tensor of shape {shape:?}"));
            };
            if channels != self.scales.len() {
                return Err(format!(
                    "{} scales along dimension {axis} of shape {shape:?}; expected {channels}",
                    self.scales.len()
                ));
            }
        }
        Ok(())
    }

    /// Scales finite and positive, one zero point per scale (or one shared), zero points in
    /// the element type's range.
    fn check_values(&self, dtype: DataType) -> Result<(), String> {
        if self.scales.is_empty() {
            return Err("quantization has no scale".into());
        }
        if let Some((i, s)) = self.scales.iter().enumerate().find(|(_, s)| !(s.is_finite() && **s > 0.0)) {
            return Err(format!("scale {i} is {s}; expected a finite positive number"));
        }
        let zl = self.zero_points.len();
        if !(zl == self.scales.len() || zl <= 1) {
            return Err(format!(
                "{} scales but {zl} zero points; expected one zero point per scale",
                self.scales.len()
            ));
        }
        if let DataType::Int { bits, signed } = dtype {
            let bits = u32::from(bits).min(64);
            let (lo, hi) = match (signed, bits) {
                (_, 0) => (0, 0),
                (true, b) => (-(1i128 << (b - 1)), (1i128 << (b - 1)) - 1),
                (false, b) => (0, (1i128 << b) - 1),
            };
            if let Some((i, z)) = self.zero_points.iter().enumerate().find(|(_, z)| !(lo..=hi).contains(&(**z as i128)))
            {
                return Err(format!("zero point {i} is {z}; expected {lo}..={hi} for {dtype}"));
            }
        }
        Ok(())
    }

    /// [`Self::check`] for group-wise weights (a tensor with [`WeightGroups`] and more than
    /// one scale): the element type's zero points and finite positive scales as there, and
    /// one scale and zero point per group of each output channel (axis 0), stored channel by
    /// channel: `scales[c * groups + j]` for group `j` of channel `c` ([`Self::group`]).
    pub fn check_grouped(&self, dtype: DataType, shape: &[usize], groups: WeightGroups) -> Result<(), String> {
        self.check_values(dtype)?;
        if self.axis != Some(0) {
            return Err(format!("group-wise scales along dimension {:?}; expected 0 (output channels)", self.axis));
        }
        let channels = shape.first().copied().unwrap_or(0) as u64;
        let reduction: u64 = shape.iter().skip(1).map(|&d| d as u64).product();
        let want = channels.saturating_mul(groups.groups(reduction));
        if self.scales.len() as u64 != want || self.zero_points.len() != self.scales.len() {
            return Err(format!(
                "{} scales and {} zero points for weights of shape {shape:?} in groups of {}; expected {want} of each",
                self.scales.len(),
                self.zero_points.len(),
                groups.size
            ));
        }
        Ok(())
    }

    /// Scale and zero point of group `j` of output channel `c`, with `groups` groups per
    /// channel (group-wise weights, [`Self::check_grouped`]).
    pub fn group(&self, c: usize, groups: usize, j: usize) -> (f32, i64) {
        let i = c * groups + j;
        (self.scales[i], self.zero_points.get(i).copied().unwrap_or(0))
    }

    /// Scale and zero point of channel `c` (the single pair when per tensor).
    pub fn channel(&self, c: usize) -> (f32, i64) {
        if self.scales.len() == 1 {
            (self.scales[0], self.zero_points.first().copied().unwrap_or(0))
        } else {
            (self.scales[c], self.zero_points.get(c).copied().unwrap_or(0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// W4 g128 over a 4096-long reduction: 32 fp16 scales per output channel; a ragged
    /// last group is a whole group; a zero point adds its bits per group; a smaller group
    /// never stores fewer bits.
    #[test]
    fn group_scales_are_counted_per_group() {
        let g = |size, zp| WeightGroups { size, scale_bits: 16, zero_point_bits: zp };
        assert_eq!(g(128, 0).weight_bits(10, 4096, 4), 10 * 4096 * 4 + 10 * 32 * 16);
        assert_eq!(g(128, 0).weight_bits(1, 129, 4), 129 * 4 + 2 * 16);
        assert_eq!(g(128, 4).weight_bits(1, 256, 4), 256 * 4 + 2 * 20);
        assert_eq!((g(128, 0).to_string(), g(32, 4).to_string()), ("g128".to_string(), "g32+z4".to_string()));
        for red in [1u64, 7, 128, 1000, 4096] {
            let bits: Vec<u64> =
                [1u32, 2, 16, 64, 128, 1 << 20].iter().map(|&s| g(s, 0).weight_bits(3, red, 4)).collect();
            assert!(bits.windows(2).all(|w| w[0] >= w[1]), "{red}: {bits:?}");
        }
    }

    #[test]
    fn output_ranges_imply_activations() {
        let u8t = DataType::Int { bits: 8, signed: false };
        let act = |s: f32, z: i64, dt: DataType| QuantParams::per_tensor(s, z).implied_activation(dt);
        assert_eq!(act(0.05, 0, u8t), Activation::Relu);
        assert_eq!(act(6.0 / 255.0, 0, u8t), Activation::Relu6);
        assert_eq!(act(6.0 / 255.0, -128, DataType::int(8)), Activation::Relu6);
        assert_eq!(act(0.05, 128, u8t), Activation::None);
        assert_eq!(act(0.05, -127, DataType::int(8)), Activation::None);
        assert_eq!(act(0.05, 0, DataType::F32), Activation::None);
        let pc = QuantParams { scales: vec![0.1, 0.2], zero_points: vec![0, 0], axis: Some(0) };
        assert_eq!(pc.implied_activation(u8t), Activation::None);
    }

    fn check(q: QuantParams, dtype: DataType, shape: &[usize]) -> Result<(), String> {
        q.check(dtype, shape)
    }

    #[test]
    fn scales_zero_points_and_channels_are_checked() {
        let i8 = DataType::int(8);
        assert!(check(QuantParams::per_tensor(0.5, -128), i8, &[4]).is_ok());
        for s in [0.0, -0.1, f32::NAN, f32::INFINITY] {
            let e = check(QuantParams::per_tensor(s, 0), i8, &[4]).expect_err("bad scale");
            assert!(e.contains("finite positive"), "{e}");
        }
        for z in [128, -129, i64::MAX, i64::MIN] {
            let e = check(QuantParams::per_tensor(0.5, z), i8, &[4]).expect_err("bad zero point");
            assert!(e.contains("-128..=127"), "{e}");
        }
        let u8 = DataType::Int { bits: 8, signed: false };
        assert!(check(QuantParams::per_tensor(0.5, 255), u8, &[4]).is_ok());
        assert!(check(QuantParams::per_tensor(0.5, -1), u8, &[4]).is_err());
        let pc = QuantParams { scales: vec![0.1; 3], zero_points: vec![0; 3], axis: Some(0) };
        assert!(check(pc.clone(), i8, &[3, 2]).is_ok());
        assert!(check(pc.clone(), i8, &[4, 2]).expect_err("length").contains("expected 4"));
        assert!(check(QuantParams { axis: Some(5), ..pc.clone() }, i8, &[3, 2]).is_err());
        assert!(check(QuantParams { zero_points: vec![0; 2], ..pc }, i8, &[3, 2]).is_err());
    }
}
