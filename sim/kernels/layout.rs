//! Data-movement ops shared by the integer and float executors: CONCATENATION (with
//! requantization of inputs whose quantization differs from the output's), PAD, the
//! strided window of SLICE / STRIDED_SLICE, and the pure copies TRANSPOSE, DEPTH_TO_SPACE,
//! SPACE_TO_DEPTH, GATHER and SPLIT / SPLIT_V (LiteRT's reference kernels copy the
//! integers of quantized tensors unchanged, as they copy floats).

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

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut step = vec![1usize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        step[d] = step[d + 1] * shape[d + 1];
    }
    step
}

/// TRANSPOSE: output axis `d` is input axis `perm[d]` (LiteRT's `reference_ops::Transpose`).
pub fn transpose<T: Copy>(x: &[T], shape: &[usize], perm: &[usize]) -> Vec<T> {
    let rank = shape.len();
    let step = strides(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let total: usize = out_shape.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; rank];
    for _ in 0..total {
        out.push(x[(0..rank).map(|d| idx[d] * step[perm[d]]).sum::<usize>()]);
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// DEPTH_TO_SPACE of an NHWC tensor (TensorFlow's DCR order, LiteRT's
/// `reference_ops::DepthToSpace`): `out[n, h, w, c] = x[n, h / b, w / b, ((h % b) * b + w % b)
/// * C / b^2 + c]`.
pub fn depth_to_space<T: Copy>(x: &[T], shape: &[usize], block: usize) -> Vec<T> {
    let [n, h, w, c] = [shape[0], shape[1], shape[2], shape[3]];
    let co = c / (block * block);
    let mut out = Vec::with_capacity(x.len());
    for b in 0..n {
        for oh in 0..h * block {
            for ow in 0..w * block {
                let base = ((b * h + oh / block) * w + ow / block) * c + ((oh % block) * block + ow % block) * co;
                out.extend_from_slice(&x[base..base + co]);
            }
        }
    }
    out
}

/// SPACE_TO_DEPTH of an NHWC tensor (LiteRT's `reference_ops::SpaceToDepth`), the inverse
/// of [`depth_to_space`]: `out[n, h, w, (bh * b + bw) * C + c] = x[n, h * b + bh, w * b + bw, c]`.
pub fn space_to_depth<T: Copy>(x: &[T], shape: &[usize], block: usize) -> Vec<T> {
    let [n, h, w, c] = [shape[0], shape[1], shape[2], shape[3]];
    let mut out = Vec::with_capacity(x.len());
    for b in 0..n {
        for oh in 0..h / block {
            for ow in 0..w / block {
                for bh in 0..block {
                    for bw in 0..block {
                        let base = ((b * h + oh * block + bh) * w + ow * block + bw) * c;
                        out.extend_from_slice(&x[base..base + c]);
                    }
                }
            }
        }
    }
    out
}

/// GATHER along `axis` with `indices` (checked in range; `batch_dims` 0): the output is
/// `shape[..axis] ++ indices' shape ++ shape[axis + 1..]`.
pub fn gather<T: Copy>(x: &[T], shape: &[usize], axis: usize, indices: &[usize]) -> Vec<T> {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut out = Vec::with_capacity(outer * indices.len() * inner);
    for o in 0..outer {
        for &i in indices {
            let base = (o * shape[axis] + i) * inner;
            out.extend_from_slice(&x[base..base + inner]);
        }
    }
    out
}

/// TILE: `x` of `shape` repeated `multiples[d]` times along each axis `d` (LiteRT's
/// `Tile`: the innermost axis copied first, then each outer axis' block repeated).
pub fn tile<T: Copy>(x: &[T], shape: &[usize], multiples: &[usize]) -> Vec<T> {
    // Along axis d (innermost first), blocks of `inner` elements (the axes inside d,
    // already tiled) are repeated `multiples[d]` times per outer index.
    let mut cur = x.to_vec();
    let mut inner = 1usize;
    for d in (0..shape.len()).rev() {
        let block = shape[d] * inner;
        let outer = if block == 0 { 0 } else { cur.len() / block };
        let mut next = Vec::with_capacity(cur.len() * multiples[d]);
        for o in 0..outer {
            let part = &cur[o * block..(o + 1) * block];
            for _ in 0..multiples[d] {
                next.extend_from_slice(part);
            }
        }
        inner = block * multiples[d];
        cur = next;
    }
    cur
}

/// SPLIT / SPLIT_V: consecutive pieces of `sizes` elements along `axis` (summing to the
/// axis), one output each.
pub fn split<T: Copy>(x: &[T], shape: &[usize], axis: usize, sizes: &[usize]) -> Vec<Vec<T>> {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut first = 0;
    sizes
        .iter()
        .map(|&n| {
            let mut out = Vec::with_capacity(outer * n * inner);
            for o in 0..outer {
                let base = (o * shape[axis] + first) * inner;
                out.extend_from_slice(&x[base..base + n * inner]);
            }
            first += n;
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    /// TILE follows its definition: `out[i, j] = x[i % d0, j % d1]`.
    #[test]
    fn tile_repeats_every_axis() {
        let x: Vec<i32> = (0..6).collect(); // [2, 3]
        let out = super::tile(&x, &[2, 3], &[2, 2]);
        let want: Vec<i32> = (0..4).flat_map(|i| (0..6).map(move |j| ((i % 2) * 3 + j % 3) as i32)).collect();
        assert_eq!(out, want);
        assert_eq!(super::tile(&x, &[2, 3], &[1, 1]), x);
    }

    use super::*;

    #[test]
    fn slice_steps_forwards_and_backwards() {
        // [2, 4]: rows 0..2, columns 3, 1 (backwards by 2).
        let x: Vec<i32> = (0..8).collect();
        assert_eq!(slice(&x, &[2, 4], &[0, 3], &[2, 2], &[1, -2]), vec![3, 1, 7, 5]);
        assert_eq!(slice(&x, &[2, 4], &[1, 1], &[1, 2], &[1, 1]), vec![5, 6]);
        assert!(slice(&x, &[2, 4], &[0, 0], &[0, 4], &[1, 1]).is_empty());
    }

    #[test]
    fn copies_move_each_element_once_where_tensorflow_puts_it() {
        let x: Vec<i32> = (0..24).collect();
        // [2, 3, 4] -> perm [2, 0, 1]: out[k, i, j] = x[i, j, k].
        let t = transpose(&x, &[2, 3, 4], &[2, 0, 1]);
        assert_eq!(&t[..6], &[0, 4, 8, 12, 16, 20]);
        assert_eq!(t[6], 1);
        // [1, 1, 1, 8] with block 2: 2x2 pixels of 2 channels, DCR order.
        let d: Vec<i32> = (0..8).collect();
        assert_eq!(depth_to_space(&d, &[1, 1, 1, 8], 2), d);
        let d2 = depth_to_space(&x, &[1, 1, 2, 12], 2);
        // Output [1, 2, 4, 3]: row 0 = pixel 0's blocks 0,1 then pixel 1's blocks 0,1.
        assert_eq!(&d2[..12], &[0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17]);
        assert_eq!(space_to_depth(&d2, &[1, 2, 4, 3], 2), x);
        // Gather rows 2, 0, 2 of [3, 8].
        assert_eq!(gather(&x, &[3, 8], 0, &[2, 0])[..9], [16, 17, 18, 19, 20, 21, 22, 23, 0]);
        assert_eq!(gather(&x, &[2, 12], 1, &[11, 0]), vec![11, 0, 23, 12]);
        assert_eq!(split(&x, &[2, 12], 1, &[3, 9])[0], vec![0, 1, 2, 12, 13, 14]);
        assert_eq!(split(&x, &[2, 12], 0, &[1, 1])[1], (12..24).collect::<Vec<_>>());
    }
}
