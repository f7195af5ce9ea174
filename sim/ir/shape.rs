//! Shape arithmetic shared by shape inference, the schedulers and the kernels.

use super::op::Padding;

/// Padding resolved to explicit amounts for one layer and input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExplicitPadding {
    /// Rows added above.
    pub top: usize,
    /// Rows added below.
    pub bottom: usize,
    /// Columns added on the left.
    pub left: usize,
    /// Columns added on the right.
    pub right: usize,
}

/// Output size of one spatial dimension, or `None` when the window does not fit.
///
/// `SAME` gives `ceil(input / stride)`; `VALID` and explicit padding give
/// `floor((input + pads - effective_kernel) / stride) + 1`.
pub fn conv_out_dim(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_before: usize,
    pad_after: usize,
) -> Option<usize> {
    if stride == 0 || kernel == 0 || dilation == 0 {
        return None;
    }
    let eff = kernel.checked_sub(1)?.checked_mul(dilation)?.checked_add(1)?;
    let padded = input.checked_add(pad_before)?.checked_add(pad_after)?;
    if padded < eff {
        return None;
    }
    Some((padded - eff) / stride + 1)
}

/// Resolves a padding mode to explicit amounts for an input of `[h, w]` (TensorFlow's rule
/// for SAME: total = max((out - 1) * stride + eff_kernel - in, 0), top = total / 2).
pub fn resolve_padding(
    padding: Padding,
    input: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
) -> ExplicitPadding {
    match padding {
        Padding::Valid => ExplicitPadding::default(),
        Padding::Explicit { top, bottom, left, right } => ExplicitPadding { top, bottom, left, right },
        Padding::Same => {
            let total = |i: usize, k: usize, s: usize, d: usize| -> usize {
                let s = s.max(1);
                let out = i.div_ceil(s);
                let eff = k.saturating_sub(1).saturating_mul(d).saturating_add(1);
                out.saturating_sub(1).saturating_mul(s).saturating_add(eff).saturating_sub(i)
            };
            let th = total(input[0], kernel[0], stride[0], dilation[0]);
            let tw = total(input[1], kernel[1], stride[1], dilation[1]);
            ExplicitPadding { top: th / 2, bottom: th - th / 2, left: tw / 2, right: tw - tw / 2 }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tensorflow() {
        // 224 -> 112 with a 3x3 stride-2 kernel: TF pads 0 above and 1 below.
        let p = resolve_padding(Padding::Same, [224, 224], [3, 3], [2, 2], [1, 1]);
        assert_eq!((p.top, p.bottom), (0, 1));
        assert_eq!(conv_out_dim(224, 3, 2, 1, p.top, p.bottom), Some(112));
        let p = resolve_padding(Padding::Same, [7, 7], [3, 3], [1, 1], [1, 1]);
        assert_eq!((p.top, p.bottom, p.left, p.right), (1, 1, 1, 1));
    }

    #[test]
    fn window_larger_than_input_does_not_fit() {
        assert_eq!(conv_out_dim(2, 3, 1, 1, 0, 0), None);
        assert_eq!(conv_out_dim(5, 3, 0, 1, 0, 0), None);
        assert_eq!(conv_out_dim(5, 3, 2, 2, 0, 0), Some(1));
    }
}

/// The output height and width of a window (conv or pooling) over an `[h, w]` input, or a
/// message saying why it does not fit.
pub fn window_out(
    input: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    padding: Padding,
) -> Result<(usize, usize), String> {
    let p = resolve_padding(padding, input, kernel, stride, dilation);
    let oh = conv_out_dim(input[0], kernel[0], stride[0], dilation[0], p.top, p.bottom);
    let ow = conv_out_dim(input[1], kernel[1], stride[1], dilation[1], p.left, p.right);
    match (oh, ow) {
        (Some(oh), Some(ow)) if oh > 0 && ow > 0 => Ok((oh, ow)),
        _ => Err(format!(
            "a {}x{} window with stride {:?} and padding {:?} does not fit a {}x{} input",
            kernel[0], kernel[1], stride, padding, input[0], input[1]
        )),
    }
}
