//! TFLite's SLICE and STRIDED_SLICE resolved against a known input shape into the IR's
//! [`Layout::Slice`] (first index, count and step per axis; dropped axes), following
//! LiteRT's `strided_slice_logic.h`: masks override begin / end, negative indices count
//! from the end, then both are clamped to the axis, direction by direction.

use crate::ir::Layout;

/// STRIDED_SLICE's mask bits (bit `d` for axis `d`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Masks {
    /// Axes whose begin is ignored (the first element in the direction of the stride).
    pub begin: i32,
    /// Axes whose end is ignored (through the last element in the direction of the stride).
    pub end: i32,
    /// Axes taken at `begin` only and removed from the output.
    pub shrink: i32,
    /// ELLIPSIS: not supported (never written by LiteRT's converter for static shapes).
    pub ellipsis: i32,
    /// New axes: not supported (the converter writes EXPAND_DIMS / RESHAPE instead).
    pub new_axis: i32,
}

/// STRIDED_SLICE of an input of `shape` (`begin`, `end`, `strides` may be shorter than
/// the rank: the leading axes are then taken whole, as LiteRT pads them).
pub(crate) fn strided_slice(
    shape: &[usize],
    begin: &[i64],
    end: &[i64],
    strides: &[i64],
    m: Masks,
) -> Result<Layout, String> {
    let rank = shape.len();
    if m.ellipsis != 0 || m.new_axis != 0 {
        return Err(format!(
            "ellipsis_mask {} and new_axis_mask {} must be 0 (accelsim supports begin_mask, end_mask and shrink_axis_mask)",
            m.ellipsis, m.new_axis
        ));
    }
    let n = begin.len();
    if end.len() != n || strides.len() != n || n > rank {
        return Err(format!(
            "begin, end and strides must have the same length, at most the input's rank {rank}; got {}, {} and {}",
            n,
            end.len(),
            strides.len()
        ));
    }
    let pad = rank - n;
    let (mut b, mut sz, mut st, mut drop) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for d in 0..rank {
        let dim = shape[d] as i64;
        if d < pad {
            b.push(0);
            sz.push(shape[d]);
            st.push(1);
            continue;
        }
        let k = d - pad;
        let bit = |mask: i32| k < 32 && mask & (1 << k) != 0;
        let stride = strides[k];
        if stride == 0 {
            return Err(format!("stride of axis {d} is 0"));
        }
        let shrink = bit(m.shrink);
        let mut start = if bit(m.begin) {
            if stride > 0 {
                i64::MIN
            } else {
                i64::MAX
            }
        } else {
            begin[k]
        };
        if start < 0 {
            start = start.saturating_add(dim);
        }
        start = if stride > 0 { start.clamp(0, dim) } else { start.clamp(-1, dim - 1) };
        let mut stop = if shrink { start + 1 } else { end[k] };
        if bit(m.end) {
            stop = if stride > 0 { i64::MAX } else { i64::MIN };
        }
        if stop < 0 {
            stop = stop.saturating_add(dim);
        }
        stop = if stride > 0 { stop.clamp(0, dim) } else { stop.clamp(-1, dim - 1) };
        let count = if stride > 0 {
            if stop > start {
                (stop - start + stride - 1) / stride
            } else {
                0
            }
        } else if start > stop {
            (start - stop + (-stride) - 1) / (-stride)
        } else {
            0
        };
        if shrink {
            if count != 1 {
                return Err(format!("shrink_axis_mask takes axis {d} at {}, outside its {dim} elements", begin[k]));
            }
            drop.push(d);
        }
        // An empty axis starts anywhere; 0 keeps the window in range.
        b.push(if count > 0 { start as usize } else { 0 });
        sz.push(count as usize);
        st.push(stride);
    }
    Ok(Layout::Slice { begin: b, size: sz, stride: st, drop })
}

/// SLICE of an input of `shape`: `size[d] = -1` takes the rest of the axis.
pub(crate) fn slice(shape: &[usize], begin: &[i64], size: &[i64]) -> Result<Layout, String> {
    let rank = shape.len();
    if begin.len() != rank || size.len() != rank {
        return Err(format!(
            "begin and size must have the input's rank {rank}, got {} and {}",
            begin.len(),
            size.len()
        ));
    }
    let mut sz = Vec::with_capacity(rank);
    for d in 0..rank {
        let dim = shape[d] as i64;
        let n = if size[d] == -1 { dim - begin[d] } else { size[d] };
        if begin[d] < 0 || n < 0 || begin[d] + n > dim {
            return Err(format!(
                "axis {d} of {dim} elements cannot be sliced from {} for {} (begin >= 0, size -1 or begin + size <= {dim})",
                begin[d], size[d]
            ));
        }
        sz.push(n as usize);
    }
    let begin = begin.iter().zip(&sz).map(|(&b, &n)| if n > 0 { b as usize } else { 0 }).collect();
    Ok(Layout::Slice { begin, size: sz, stride: vec![1; rank], drop: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(l: Layout) -> (Vec<usize>, Vec<usize>, Vec<i64>, Vec<usize>) {
        match l {
            Layout::Slice { begin, size, stride, drop } => (begin, size, stride, drop),
            other => panic!("not a slice: {other:?}"),
        }
    }

    #[test]
    fn python_slices_resolve_as_litert_does() {
        // x[:, 1:4:2, ::-1, 2:14:3] of [1, 4, 4, 16]: begin and end masks on axes 0 and 2.
        let m = Masks { begin: 0b0101, end: 0b0101, ..Masks::default() };
        let l = strided_slice(&[1, 4, 4, 16], &[0, 1, 0, 2], &[0, 4, 0, 14], &[1, 2, -1, 3], m).expect("slice");
        assert_eq!(window(l), (vec![0, 1, 3, 2], vec![1, 2, 4, 4], vec![1, 2, -1, 3], vec![]));
        // x[0, -3:] of [2, 5]: shrink axis 0, negative begin.
        let m = Masks { end: 0b10, shrink: 0b01, ..Masks::default() };
        let l = strided_slice(&[2, 5], &[0, -3], &[1, 0], &[1, 1], m).expect("slice");
        assert_eq!(window(l), (vec![0, 2], vec![1, 3], vec![1, 1], vec![0]));
        // Out-of-range ends clamp; an empty window.
        let l = strided_slice(&[4], &[3], &[1], &[1], Masks::default()).expect("slice");
        assert_eq!(window(l).1, vec![0]);
        let l = strided_slice(&[4], &[-100], &[100], &[1], Masks::default()).expect("slice");
        assert_eq!(window(l).1, vec![4]);
    }

    #[test]
    fn unsupported_masks_and_bad_windows_say_what_is_expected() {
        let m = Masks { ellipsis: 1, ..Masks::default() };
        let e = strided_slice(&[4], &[0], &[4], &[1], m).expect_err("ellipsis");
        assert!(e.contains("ellipsis_mask 1"), "{e}");
        assert!(strided_slice(&[4], &[0], &[4], &[0], Masks::default()).expect_err("stride").contains("stride"));
        assert_eq!(window(slice(&[3, 8], &[1, 2], &[-1, 4]).expect("slice")).1, vec![2, 4]);
        let e = slice(&[3, 8], &[1, 6], &[1, 4]).expect_err("past the end");
        assert!(e.contains("axis 1 of 8"), "{e}");
    }
}
