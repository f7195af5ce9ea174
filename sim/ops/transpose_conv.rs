//! The transposed convolution family (TFLite's TRANSPOSE_CONV, ONNX ConvTranspose): NHWC
//! data, OHWI weights `[cout, kh, kw, cin]`, each input pixel scattering its taps `stride`
//! apart into an output window cropped by `pad` (see [`TransposeConv`]).
//!
//! Cost: the sub-pixel decomposition. Output rows `o` with the same `(o + pad) mod stride`
//! (a *phase*) are reached by the same kernel rows, `ceil((kh - p) / stride)` of them, so
//! each of the `stride[0] x stride[1]` phases is an ordinary stride-1 convolution of the
//! input with a sub-kernel, writing every `stride`-th output pixel. That is what the
//! hardware runs when it has no transposed-convolution mode: NVDLA's compiler splits a
//! deconvolution into such convolutions (and lets Rubik's contract mode interleave them),
//! and it needs no zero-inserted input. So the layer costs one GEMM phase per phase with
//! taps (its weights loaded once in total, its input read once per phase), and its MACs
//! are their sum: the products LiteRT's scatter kernel computes plus, as for a convolution,
//! the taps of each phase's border that fall outside the input. The zero-insertion form
//! (one stride-1 convolution over the input with `stride - 1` zeros between pixels) would
//! multiply `stride[0] * stride[1]` times as many operands, most of them inserted zeros.
//! The interleaving of the phases' outputs is taken as part of writing the output (the
//! output is written once in total); a separate reordering pass (Rubik) is not costed.

use super::conv::f32_data;
use super::weighted::{float_operands, int_weights, weighted_layer};
use super::work::{ConvWork, Operand, Phase, VectorWork};
use super::{
    int_input, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule, WeightLayout, WorkbookRow,
    NO_WORKBOOK_ROW,
};
use crate::ir::TransposeConv;
use crate::kernels::transpose_conv::{self, TransposeConvParams, TransposeGeometry};
use crate::kernels::{shape4, Arithmetic, Requant, Values};
use crate::units::Macs;

/// A prepared integer transposed convolution.
pub struct IntTransposeConv(Box<TransposeConvParams>);

impl IntTransposeConv {
    pub(super) fn run(&self, inputs: &[&Values], arith: &Arithmetic) -> Result<Vec<Values>, String> {
        Ok(vec![Values::Int(transpose_conv::transpose_conv(&self.0, &int_input(inputs, 0)?, arith))])
    }
}

fn geometry(t: &TransposeConv, cx: &LayerCx) -> TransposeGeometry {
    TransposeGeometry {
        input: shape4(&cx.x().shape),
        output: shape4(&cx.out().shape),
        kernel: t.kernel,
        stride: t.stride,
        pad: t.pad,
    }
}

/// One phase along one axis: how many output rows it writes and how many kernel rows
/// reach each of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AxisPhase {
    outputs: usize,
    taps: usize,
}

/// The `stride` phases of one axis: phase `p` holds the outputs `o` with
/// `(o + pad) mod stride == p`, reached by kernel rows `p, p + stride, ...`.
fn axis_phases(out: usize, pad: usize, kernel: usize, stride: usize) -> Vec<AxisPhase> {
    let s = stride.max(1);
    (0..s)
        .map(|p| {
            // The first output of phase p, then every s-th.
            let first = (p + s - pad % s) % s;
            let outputs = if first < out { (out - first).div_ceil(s) } else { 0 };
            let taps = if p < kernel { (kernel - p).div_ceil(s) } else { 0 };
            AxisPhase { outputs, taps }
        })
        .collect()
}

/// The stride-1 convolutions of the sub-pixel decomposition, one per phase with taps and
/// outputs.
fn phase_convs(t: &TransposeConv, cx: &LayerCx) -> Vec<ConvWork> {
    let [n, ih, iw, c] = shape4(&cx.x().shape).map(|d| d as u64);
    let rows = axis_phases(t.output[0], t.pad[0], t.kernel[0], t.stride[0]);
    let cols = axis_phases(t.output[1], t.pad[1], t.kernel[1], t.stride[1]);
    let mut out = Vec::new();
    for r in rows.iter().filter(|r| r.outputs > 0 && r.taps > 0) {
        for s in cols.iter().filter(|s| s.outputs > 0 && s.taps > 0) {
            out.push(ConvWork {
                n,
                ih,
                iw,
                c,
                k: t.out_channels as u64,
                groups: 1,
                r: r.taps as u64,
                s: s.taps as u64,
                sh: 1,
                sw: 1,
                dh: 1,
                dw: 1,
                oh: r.outputs as u64,
                ow: s.outputs as u64,
            });
        }
    }
    out
}

impl OpFamily for TransposeConv {
    fn name(&self) -> &'static str {
        "tconv"
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        let t = self;
        let x = cx.x();
        let [n, h, w, cin] = match x.shape[..] {
            [n, h, w, c] => [n, h, w, c],
            _ => return Err(format!("expects an NHWC input, got shape {:?}", x.shape)),
        };
        if t.stride.contains(&0) || t.kernel.contains(&0) || t.output.contains(&0) || t.out_channels == 0 {
            return Err(format!(
                "stride {:?}, kernel {:?}, output {:?} and {} output channels must all be at least 1",
                t.stride, t.kernel, t.output, t.out_channels
            ));
        }
        // The taps of the last input pixel end at (in - 1) * stride + kernel; cropping more
        // than that leaves an output no tap reaches (and the arithmetic must not overflow).
        for (d, input) in [h, w].into_iter().enumerate() {
            let reach =
                input.checked_sub(1).and_then(|i| i.checked_mul(t.stride[d])).and_then(|i| i.checked_add(t.kernel[d]));
            if reach.is_none_or(|r| t.pad[d] >= r) {
                return Err(format!(
                    "crops {} {} of an input of {input} with kernel {} and stride {}: no tap reaches the output",
                    t.pad[d],
                    ["rows", "columns"][d],
                    t.kernel[d],
                    t.stride[d]
                ));
            }
        }
        let expect = vec![t.out_channels, t.kernel[0], t.kernel[1], cin];
        let wt =
            cx.weights().ok_or_else(|| format!("has no weight tensor, expected one of shape {expect:?} (OHWI)"))?;
        if wt.shape != expect {
            return Err(format!("weights have shape {:?}, expected {:?} (OHWI)", wt.shape, expect));
        }
        if let Some(b) = cx.bias() {
            if b.elements() != t.out_channels as u64 {
                return Err(format!("bias has {} elements, expected {}", b.elements(), t.out_channels));
            }
        }
        Ok(vec![vec![n, t.output[0], t.output[1], t.out_channels]])
    }

    /// The sum over the sub-pixel phases' convolutions (see the module comment).
    fn macs(&self, cx: &LayerCx) -> Macs {
        Macs(phase_convs(self, cx).iter().map(|w| w.macs().get()).fold(0, u64::saturating_add))
    }

    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let convs = phase_convs(self, cx);
        if convs.is_empty() {
            // No tap reaches any output (a stride larger than the kernel and an output
            // within the gaps): the output is the bias, written once.
            let out_elements = cx.out().elements();
            return vec![Phase::Vector(VectorWork {
                in_elements: 0,
                out_elements,
                weights: 0,
                ops: out_elements,
                pooling: false,
            })];
        }
        convs.into_iter().map(|work| Phase::Gemm { work, operand: Operand::Constant }).collect()
    }

    fn quant_rule(&self, _input_bits: u8, _output_bits: u8) -> QuantRule {
        QuantRule::Free
    }

    fn dequantizes(&self) -> bool {
        false
    }

    fn on_the_fly(&self, _cx: &LayerCx) -> OnTheFly {
        OnTheFly::No
    }

    fn workbook_row(&self, _cx: &LayerCx) -> WorkbookRow<'_> {
        NO_WORKBOOK_ROW
    }

    /// The output's batch follows from the inputs'.
    fn set_batch(&mut self, _n: usize) {}

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::TransposeConv(self)
    }

    fn fused_activation(&self) -> bool {
        true
    }

    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let (w, b) = float_operands(cx)?;
        let x = inputs.first().ok_or("missing input")?;
        Ok(vec![transpose_conv::transpose_conv_f32(&geometry(self, cx), x, &w, b.as_deref())])
    }

    fn prepare_int(&self, cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        let geom = geometry(self, cx);
        let wl = weighted_layer(cx, geom.output[3])?;
        // LiteRT: int8 accumulates in int32 (double rounding); 16x8 in int64 with the
        // reduced multiplier, or in int32 with double rounding when its bias is int32.
        let bias32 = cx.bias().is_some_and(|b| b.dtype.bits() <= 32);
        let requant = if wl.x.dtype.bits() > 8 && !bias32 { Requant::Reduced } else { Requant::Double };
        let requant = requant.checked(&wl.multipliers)?;
        let params = TransposeConvParams {
            geom,
            weights: int_weights(wl.w)?,
            weight_zp: wl.weight_zp,
            bias: wl.bias,
            input_zp: wl.input_zp,
            output_zp: wl.output_zp,
            multipliers: wl.multipliers,
            requant,
            act_min: wl.act_min,
            act_max: wl.act_max,
        };
        Ok(IntKernel::TransposeConv(IntTransposeConv(Box::new(params))))
    }

    /// An output element of phase `(p, q)` sums the products of its sub-kernel's taps; over
    /// the phases an output channel has, on average, mean `b + sum W * E[x] / (sh * sw)` and
    /// variance `sum W^2 Var[x] / (sh * sw)` (independent inputs, every tap counted once).
    fn data_free(&self, cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        let x = inputs.first().copied().flatten()?;
        let w = cx.weights().and_then(f32_data)?;
        let b = cx.bias().and_then(f32_data);
        let cout = self.out_channels;
        let per = w.len() / cout.max(1);
        let cin = cx.x().shape.last().copied().unwrap_or(1).max(1);
        let phases = (self.stride[0] * self.stride[1]).max(1) as f64;
        let mut mean = vec![0f64; cout];
        let mut var = vec![0f64; cout];
        for co in 0..cout {
            for (k, &wv) in w[co * per..(co + 1) * per].iter().enumerate() {
                let (mu, v) = x.channel(k % cin);
                mean[co] += wv as f64 * mu / phases;
                var[co] += (wv as f64).powi(2) * v / phases;
            }
            mean[co] += b.map_or(0.0, |b| b[co] as f64);
        }
        Some(DataFree { moments: Moments { mean, var }, within_input_range: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_split_the_outputs_and_the_taps() {
        // 3x3 stride 2, TFLite SAME for 5 -> 10: pad 0 (total 1, top 0). Phase 0 (even
        // outputs) takes taps 0 and 2, phase 1 (odd) tap 1.
        let p = axis_phases(10, 0, 3, 2);
        assert_eq!(p, vec![AxisPhase { outputs: 5, taps: 2 }, AxisPhase { outputs: 5, taps: 1 }]);
        // Pad 1 shifts the phases: output 0 is q = 1, phase 1.
        let p = axis_phases(7, 1, 4, 2);
        assert_eq!(p, vec![AxisPhase { outputs: 3, taps: 2 }, AxisPhase { outputs: 4, taps: 2 }]);
        // Stride 3 over a 2-tap kernel: phase 2 has no taps.
        assert_eq!(axis_phases(6, 0, 2, 3)[2], AxisPhase { outputs: 2, taps: 0 });
        // Every output is in exactly one phase.
        for (out, pad, k, s) in [(9, 2, 3, 2), (13, 5, 4, 4), (1, 3, 2, 2)] {
            assert_eq!(axis_phases(out, pad, k, s).iter().map(|p| p.outputs).sum::<usize>(), out);
        }
    }

    /// The phases' taps, summed, are the kernel's: each kernel row in exactly one phase.
    #[test]
    fn every_kernel_row_is_in_one_phase() {
        for (k, s) in [(3, 2), (4, 2), (2, 2), (5, 3), (1, 1), (2, 3)] {
            assert_eq!(axis_phases(20, 1, k, s).iter().map(|p| p.taps).sum::<usize>(), k, "kernel {k} stride {s}");
        }
    }
}
