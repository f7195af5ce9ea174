//! A graph's inputs and outputs as callers hand them over (`accelsim exec` and the Python
//! package's `exec`): float items quantized for an integer input as TFLite's QUANTIZE does,
//! and rank-4 tensors moved between ONNX's NCHW and the IR's NHWC. Batches arrive as
//! [`ndarray`] views (`[N, ...]`, any strides): a `.npy` file read by `import::npy` and a
//! numpy array handed over by the Python package are cut into items by the same code.

use ndarray::{ArrayViewD, IxDyn};

use super::Values;
use crate::ir::{DataType, Tensor};

/// The items of batch `a` (`[N, ...]`) as flat vectors in C order of the IR's layout: each
/// item as stored, or moved from `[C, H, W]` to `[H, W, C]` when `chw` (for a rank-3 item).
pub fn batch_items<T: Copy>(a: ArrayViewD<'_, T>, chw: bool) -> Vec<Vec<T>> {
    a.outer_iter().map(|item| batch_item(item, chw)).collect()
}

/// One item of [`batch_items`] (`item`: one index of the batch axis).
pub fn batch_item<T: Copy>(item: ArrayViewD<'_, T>, chw: bool) -> Vec<T> {
    if chw && item.ndim() == 3 {
        item.permuted_axes(IxDyn(&[1, 2, 0])).iter().copied().collect()
    } else if let Some(flat) = item.as_slice() {
        // An item in C order (a `.npy` file's): one copy, not an element-wise walk.
        flat.to_vec()
    } else {
        item.iter().copied().collect()
    }
}

/// The images of a set `a` (`[N, ...]`) as flat inputs of a model input of shape `input`
/// (`[1, H, W, C]`): as stored when an item is `[H, W, C]`, moved when it is `[C, H, W]`
/// (an NCHW set). `None` when neither fits.
pub fn images(a: ArrayViewD<'_, f32>, input: &[usize]) -> Option<Vec<Vec<f32>>> {
    let (want, got) = (input.get(1..)?, a.shape().get(1..)?);
    if got == want {
        return Some(batch_items(a, false));
    }
    match (want, got) {
        ([h, w, c], [c2, h2, w2]) if (h, w, c) == (h2, w2, c2) => Some(batch_items(a, true)),
        _ => None,
    }
}

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
            let (scale, zp) = (q.scales[0], q.zero_points[0] as i32);
            Ok(match (signed, bits) {
                // Stored as 8 bits, as the fast convolutions read it ([`Values::I8`]).
                (true, ..=8) => Values::I8(super::elementwise::quantize_as(&x, scale, zp, lo, hi)),
                _ => Values::Int(super::elementwise::quantize(&x, scale, zp, lo, hi)),
            })
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
        Values::I8(x) => Values::I8(transpose_nchw(x, nhwc, to_nhwc)),
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
        // A signed 8-bit input is stored as 8 bits.
        assert_eq!(v, Values::I8(vec![-2, -4, 127, -128]));
        let t16 = tensor(DataType::Int { bits: 16, signed: true }, Some(QuantParams::per_tensor(0.5, 0)));
        assert_eq!(input_from_f32(&t16, vec![0.25, -40000.0]).unwrap(), Values::Int(vec![1, -32768]));
        let u = tensor(DataType::Int { bits: 8, signed: false }, Some(QuantParams::per_tensor(1.0, 128)));
        assert_eq!(input_from_f32(&u, vec![-200.0, 0.0, 127.0, 1.5]).unwrap(), Values::Int(vec![0, 128, 255, 130]));
        let f = tensor(DataType::F32, None);
        assert_eq!(input_from_f32(&f, vec![0.1]).unwrap(), Values::F32(vec![0.1]));
        let none = tensor(DataType::Int { bits: 8, signed: true }, None);
        assert!(input_from_f32(&none, vec![0.0]).is_err());
    }

    #[test]
    fn batch_items_follow_the_logical_order_of_any_strides() {
        // Two items of [C=2, H=1, W=3]: NHWC order interleaves the channels.
        let a = ndarray::Array::from_shape_vec(IxDyn(&[2, 2, 1, 3]), (0..12).collect::<Vec<u32>>()).unwrap();
        assert_eq!(batch_items(a.view(), true), vec![vec![0, 3, 1, 4, 2, 5], vec![6, 9, 7, 10, 8, 11]]);
        assert_eq!(batch_items(a.view(), false)[1], (6..12).collect::<Vec<_>>());
        // A transposed (non-contiguous) view is read in its logical order.
        let t = a.view().permuted_axes(IxDyn(&[0, 2, 3, 1]));
        assert_eq!(batch_items(t.view(), false), batch_items(a.view(), true));
        // Images of a [1, 1, 3, 2] input from the NCHW set; a shape that fits neither way.
        let f = a.mapv(|x| x as f32);
        assert_eq!(images(f.view(), &[1, 1, 3, 2]).unwrap()[0], vec![0., 3., 1., 4., 2., 5.]);
        assert_eq!(images(f.view(), &[1, 2, 1, 3]).unwrap()[0], vec![0., 1., 2., 3., 4., 5.]);
        assert!(images(f.view(), &[1, 3, 3, 2]).is_none());
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
