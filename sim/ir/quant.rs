//! Element types and quantization parameters of IR tensors.

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

    /// Whether there is one scale per channel.
    pub fn is_per_channel(&self) -> bool {
        self.axis.is_some() && self.scales.len() > 1
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
