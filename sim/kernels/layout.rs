//! Data-movement ops shared by the integer and float executors: CONCATENATION (with
//! requantization of inputs whose quantization differs from the output's), PAD and the
//! strided window of SLICE / STRIDED_SLICE.

/// Concatenates row-major tensors along `axis`; `parts[i]` has shape `shapes[i]`.
pub fn concat<T: Copy>(parts: &[&[T]], shapes: &[Vec<usize>], axis: usize) -> Vec<T> {
    let outer: usize = shapes.first().map_or(1, |s| s[..axis].iter().product());
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(total);
    for o in 0..outer {
        for (p, s) in parts.iter().zip(shapes) {
            let inner: usize = s[axis..].iter().product();
            out.extend_from_slice(&p[o * inner..(o + 1) * inner]);
        }
    }
    out
}

/// Requantizes an integer tensor from `(si, zi)` to `(so, zo)` the way TFLite's
/// `ConcatenationWithScaling` does: `round(q * si / so - zi * si / so) + zo` in float.
pub fn rescale(x: &[i32], si: f32, zi: i32, so: f32, zo: i32, qmin: i32, qmax: i32) -> Vec<i32> {
    let scale = si * (1.0 / so);
    let bias = -(zi as f32) * scale;
    x.iter().map(|&v| ((v as f32 * scale + bias).round() as i32).saturating_add(zo).clamp(qmin, qmax)).collect()
}

/// Pads a row-major tensor with `value`; `pads[d] = (before, after)`.
pub fn pad<T: Copy>(x: &[T], shape: &[usize], pads: &[(usize, usize)], value: T) -> Vec<T> {
    let out_shape: Vec<usize> = shape.iter().zip(pads).map(|(&s, &(a, b))| s + a + b).collect();
    let total: usize = out_shape.iter().product();
    let mut out = vec![value; total];
    let mut idx = vec![0usize; shape.len()];
    for &v in x {
        let mut o = 0;
        for d in 0..shape.len() {
            o = o * out_shape[d] + idx[d] + pads[d].0;
        }
        out[o] = v;
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

/// The strided window of a row-major tensor of shape `shape`: along axis `d`, `size[d]`
/// elements from `begin[d]` in steps of `stride[d]` (LiteRT's `StridedSlice` loop, with
/// start and count already resolved). The caller has checked every index is in range.
pub fn slice<T: Copy>(x: &[T], shape: &[usize], begin: &[usize], size: &[usize], stride: &[i64]) -> Vec<T> {
    let rank = shape.len();
    let total: usize = size.iter().product();
    let mut out = Vec::with_capacity(total);
    if total == 0 {
        return out;
    }
    // Row-major strides of the input.
    let mut step = vec![1usize; rank];
    for d in (0..rank.saturating_sub(1)).rev() {
        step[d] = step[d + 1] * shape[d + 1];
    }
    let at = |d: usize, i: usize| -> usize { (begin[d] as i64 + i as i64 * stride[d]) as usize * step[d] };
    let mut idx = vec![0usize; rank];
    for _ in 0..total {
        out.push(x[(0..rank).map(|d| at(d, idx[d])).sum::<usize>()]);
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < size[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_steps_forwards_and_backwards() {
        // [2, 4]: rows 0..2, columns 3, 1 (backwards by 2).
        let x: Vec<i32> = (0..8).collect();
        assert_eq!(slice(&x, &[2, 4], &[0, 3], &[2, 2], &[1, -2]), vec![3, 1, 7, 5]);
        assert_eq!(slice(&x, &[2, 4], &[1, 1], &[1, 2], &[1, 1]), vec![5, 6]);
        assert!(slice(&x, &[2, 4], &[0, 0], &[0, 4], &[1, 1]).is_empty());
    }
}
