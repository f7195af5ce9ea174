//! Float32 kernels over the same IR: the reference that quantized results are measured
//! against. Every output sums its products in the reference kernels' order (taps `ky`, `kx`,
//! then input channels, f32 accumulation starting at 0, bias added last); the fast paths
//! vectorize across output channels and pixels, never along the sum, so they give the same
//! values as the plain loops (`conv_reference`, kept for the tests and grouped convolutions).

use crate::ir::{Activation, ExplicitPadding, PoolKind};
use crate::kernels::conv::ConvGeometry;
use crate::kernels::float_gemm;

/// Clamps to a fused activation's range.
pub fn activate(x: &mut [f32], act: Activation) {
    let (lo, hi) = act.range();
    if act != Activation::None {
        x.iter_mut().for_each(|v| *v = v.clamp(lo, hi));
    }
}

/// Float convolution, NHWC input, OHWI weights; `groups` as in the IR.
pub fn conv(g: &ConvGeometry, groups: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (c, cout) = (g.input[3], g.output[3]);
    if groups <= 1 {
        float_gemm::conv(g, x, w, bias)
    } else if groups == c && cout == c {
        float_gemm::depthwise(g, x, w, bias)
    } else {
        conv_reference(g, groups, x, w, bias)
    }
}

/// The plain loops: one output at a time, taps skipped outside the image.
pub fn conv_reference(geom: &ConvGeometry, groups: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let [n, h, wd, c] = geom.input;
    let [_, oh, ow, cout] = geom.output;
    let cin_g = c / groups.max(1);
    let cout_g = cout / groups.max(1);
    let [kh, kw] = geom.kernel;
    let mut out = vec![0f32; n * oh * ow * cout];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for co in 0..cout {
                    let g = co / cout_g.max(1);
                    let mut acc = 0f32;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let Some((iy, ix)) = geom.tap(oy, ox, ky, kx) else { continue };
                            let xs = &x[((b * h + iy) * wd + ix) * c + g * cin_g..][..cin_g];
                            let ws = &w[((co * kh + ky) * kw + kx) * cin_g..][..cin_g];
                            for (a, bb) in xs.iter().zip(ws) {
                                acc += a * bb;
                            }
                        }
                    }
                    out[((b * oh + oy) * ow + ox) * cout + co] = acc + bias.map_or(0.0, |b| b[co]);
                }
            }
        }
    }
    out
}

/// Float fully connected: `[batch, in] x [out, in]^T + bias`.
pub fn fully_connected(batch: usize, inf: usize, outf: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let mut out = vec![0f32; batch * outf];
    for b in 0..batch {
        for o in 0..outf {
            let mut acc = 0f32;
            for (a, bb) in x[b * inf..][..inf].iter().zip(&w[o * inf..][..inf]) {
                acc += a * bb;
            }
            out[b * outf + o] = acc + bias.map_or(0.0, |b| b[o]);
        }
    }
    out
}

/// Float pooling (average excludes padding).
pub fn pool(
    kind: PoolKind,
    input: [usize; 4],
    output: [usize; 4],
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: ExplicitPadding,
    x: &[f32],
) -> Vec<f32> {
    let [n, h, w, c] = input;
    let [_, oh, ow, _] = output;
    let mut out = vec![0f32; n * oh * ow * c];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let mut acc = if kind == PoolKind::Max { f32::NEG_INFINITY } else { 0.0 };
                    let mut count = 0;
                    for ky in 0..kernel[0] {
                        let iy = (oy * stride[0] + ky) as isize - pad.top as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        for kx in 0..kernel[1] {
                            let ix = (ox * stride[1] + kx) as isize - pad.left as isize;
                            if ix < 0 || ix >= w as isize {
                                continue;
                            }
                            let v = x[((b * h + iy as usize) * w + ix as usize) * c + ch];
                            if kind == PoolKind::Max {
                                acc = acc.max(v);
                            } else {
                                acc += v;
                            }
                            count += 1;
                        }
                    }
                    if kind == PoolKind::Avg {
                        acc /= count.max(1) as f32;
                    }
                    out[((b * oh + oy) * ow + ox) * c + ch] = acc;
                }
            }
        }
    }
    out
}

/// Softmax of each `[rows, depth]` matrix of `x` under a causal mask: row `i` takes the
/// columns `j <= i + depth - rows` (its position among the last `rows` of `depth`), the
/// others are 0. `rows <= depth`.
pub fn softmax_causal(x: &[f32], rows: usize, depth: usize, beta: f32) -> Vec<f32> {
    let depth = depth.max(1);
    let mut out = vec![0f32; x.len()];
    for (r, (row, o)) in x.chunks(depth).zip(out.chunks_mut(depth)).enumerate() {
        let seen = (r % rows.max(1)) + depth - rows.min(depth) + 1;
        let s = softmax(&row[..seen], seen, beta);
        o[..seen].copy_from_slice(&s);
    }
    out
}

/// Float softmax over rows of `depth` with TFLite's `beta`.
pub fn softmax(x: &[f32], depth: usize, beta: f32) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for (row, o) in x.chunks(depth.max(1)).zip(out.chunks_mut(depth.max(1))) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f32;
        for (v, oo) in row.iter().zip(o.iter_mut()) {
            *oo = ((v - max) * beta).exp();
            sum += *oo;
        }
        o.iter_mut().for_each(|v| *v /= sum);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2x2 causal softmax of zeros: row 0 sees one column ([1, 0]), row 1 both ([.5, .5]);
    /// one row of a decode step (1 of 3 positions) sees all three.
    #[test]
    fn causal_softmax_by_hand() {
        assert_eq!(softmax_causal(&[0.0; 4], 2, 2, 1.0), vec![1.0, 0.0, 0.5, 0.5]);
        let d = softmax_causal(&[0.0; 3], 1, 3, 1.0);
        assert!(d.iter().all(|v| (v - 1.0 / 3.0).abs() < 1e-7), "{d:?}");
        // ln 3 and 0 with beta 1: e^ln3 / (3 + 1) = 0.75 in row 1 (two heads repeat it).
        let x = [0.0, 9.0, 3f32.ln(), 0.0];
        let y = softmax_causal(&[x, x].concat(), 2, 2, 1.0);
        assert_eq!(&y[..2], &[1.0, 0.0]);
        assert!((y[2] - 0.75).abs() < 1e-6 && (y[3] - 0.25).abs() < 1e-6, "{y:?}");
        assert_eq!(y[..4], y[4..]);
    }
}
