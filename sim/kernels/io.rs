//! A graph's inputs and outputs as callers hand them over (`accelsim exec` and the Python
//! package's `exec`): float items quantized for an integer input as TFLite's QUANTIZE does,
//! and rank-4 tensors moved between ONNX's NCHW and the IR's NHWC.

use super::Values;
use crate::ir::{DataType, Tensor};

/// Why float values cannot be fed to an input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("input '{name}' is {dtype} without one scale, so float values cannot be quantized for it")]
pub struct NotQuantizable {
    /// The input's name.
    pub name: String,
    /// Its element type.
    pub dtype: DataType,
}

/// The executor values of float `x` fed to input `t`: as they are for a float input; for an
/// integer input with one scale, `round(x / scale) + zero point` (half away from zero,
/// clamped to the type), as TFLite's QUANTIZE does.
pub fn input_from_f32(t: &Tensor, x: Vec<f32>) -> Result<Values, NotQuantizable> {
    match (t.dtype, &t.quant) {
        (DataType::F32, _) => Ok(Values::F32(x)),
        (DataType::Int { bits, signed }, Some(q)) if q.scales.len() == 1 => {
            let (lo, hi) = if signed {
                super::fixedpoint::int_range(bits as u32)
            } else {
                (0, ((1i64 << (bits as u32).min(31)) - 1) as i32)
            };
            Ok(Values::Int(super::elementwise::quantize(&x, q.scales[0], q.zero_points[0] as i32, lo, hi)))
        }
        (dtype @ (DataType::Int { .. } | DataType::F16), _) => Err(NotQuantizable { name: t.name.clone(), dtype }),
    }
}

/// Reorders a row-major rank-4 tensor whose NHWC shape is `nhwc`: from NCHW to NHWC when
/// `to_nhwc`, else from NHWC to NCHW.
pub fn transpose_nchw<T: Copy>(v: &[T], nhwc: &[usize], to_nhwc: bool) -> Vec<T> {
    let [n, h, w, c] = [nhwc[0], nhwc[1], nhwc[2], nhwc[3]];
    let mut out = Vec::with_capacity(v.len());
    let nhwc_index = |b: usize, y: usize, x: usize, k: usize| ((b * h + y) * w + x) * c + k;
    let nchw_index = |b: usize, y: usize, x: usize, k: usize| ((b * c + k) * h + y) * w + x;
    if to_nhwc {
        for b in 0..n {
            for y in 0..h {
                for x in 0..w {
                    out.extend((0..c).map(|k| v[nchw_index(b, y, x, k)]));
                }
            }
        }
    } else {
        for b in 0..n {
            for k in 0..c {
                for y in 0..h {
                    out.extend((0..w).map(|x| v[nhwc_index(b, y, x, k)]));
                }
            }
        }
    }
    out
}

/// [`transpose_nchw`] of executor values.
pub fn transpose_values(v: &Values, nhwc: &[usize], to_nhwc: bool) -> Values {
    match v {
        Values::F32(x) => Values::F32(transpose_nchw(x, nhwc, to_nhwc)),
        Values::Int(x) => Values::Int(transpose_nchw(x, nhwc, to_nhwc)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{QuantParams, TensorKind};

    fn tensor(dtype: DataType, quant: Option<QuantParams>) -> Tensor {
        Tensor { dtype, quant, ..Tensor::float("x", vec![1, 4], TensorKind::Activation) }
    }

    #[test]
    fn integer_inputs_round_half_away_from_zero_and_clamp() {
        let q = QuantParams::per_tensor(0.5, -3);
        let t = tensor(DataType::Int { bits: 8, signed: true }, Some(q));
        let v = input_from_f32(&t, vec![0.25, -0.25, 1000.0, -1000.0]).unwrap();
        assert_eq!(v, Values::Int(vec![-2, -4, 127, -128]));
        let u = tensor(DataType::Int { bits: 8, signed: false }, Some(QuantParams::per_tensor(1.0, 128)));
        assert_eq!(input_from_f32(&u, vec![-200.0, 0.0, 127.0, 1.5]).unwrap(), Values::Int(vec![0, 128, 255, 130]));
        let f = tensor(DataType::F32, None);
        assert_eq!(input_from_f32(&f, vec![0.1]).unwrap(), Values::F32(vec![0.1]));
        let none = tensor(DataType::Int { bits: 8, signed: true }, None);
        assert!(input_from_f32(&none, vec![0.0]).is_err());
    }

    #[test]
    fn nchw_round_trips() {
        let nhwc = [2, 3, 4, 5];
        let v: Vec<u32> = (0..120).collect();
        let t = transpose_nchw(&v, &nhwc, false);
        // NCHW element (b=1, k=2, y=0, x=3) is NHWC element (1, 0, 3, 2).
        assert_eq!(t[((5 + 2) * 3) * 4 + 3], v[((3 + 0) * 4 + 3) * 5 + 2]);
        assert_eq!(transpose_nchw(&t, &nhwc, true), v);
    }
}
