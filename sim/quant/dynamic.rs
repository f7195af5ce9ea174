//! Dynamic-range quantization (`accelsim quantize --dynamic`): dynamic activation scales as
//! LiteRT's converter makes them without calibration data. Every fully connected layer's and
//! every convolution's weights become integers (per output channel, symmetric, narrow range)
//! and the layer LiteRT's hybrid form: its float input is quantized when it runs -- a fully
//! connected layer's row by row (token by token, `kernels::fc::hybrid_fully_connected`), a
//! convolution's image by image (`kernels::conv::hybrid_conv`) -- to int8 with its own scale
//! and zero point (a convolution whose per-channel scales come out one or all equal runs
//! LiteRT's per-tensor kernel, symmetric images: `Conv2d::hybrid_kernel`); its bias and output
//! stay float. Every other tensor stays float (as do transposed convolutions, which LiteRT has
//! no hybrid kernel for).

use crate::ir::{DataType, FullyConnected, Graph, Op, QuantParams, TensorData, TensorKind};
use crate::ops::WeightLayout;
use crate::quant::clip::{quantize_weights, ClipMethod};
use crate::quant::ptq::QuantError;

/// The widest weights the hybrid kernel takes (its weights are int8; narrower ones are int8
/// values in a narrower range, as LiteRT's int4 weights are unpacked).
pub const MAX_BITS: u8 = 8;

/// The graph with every fully connected layer's and convolution's weights at `bits`
/// (2..=[`MAX_BITS`]) and the layer hybrid with asymmetric rows (images); returns it and the
/// number of layers made hybrid.
pub fn quantize_dynamic(g: &Graph, bits: u8, method: ClipMethod) -> Result<(Graph, usize), QuantError> {
    if !(2..=MAX_BITS).contains(&bits) {
        return Err(QuantError::DynamicWidth(bits));
    }
    let mut q = g.clone();
    let mut hybrid = 0;
    for li in 0..q.layers.len() {
        let l = &q.layers[li];
        // Output channels, and the op with each input row quantized with a zero point
        // (a convolution's kernel follows from its per-channel scales, `Conv2d::hybrid_kernel`:
        // per channel, or per tensor when they are one or all equal).
        let (cout, op) = match l.op.weight_layout() {
            WeightLayout::Matrix(fc) => {
                (fc.out_features, Op::FullyConnected(FullyConnected { asymmetric_inputs: true, ..fc.clone() }))
            }
            WeightLayout::Conv(c) => (c.out_channels, l.op.clone()),
            WeightLayout::TransposeConv(_) | WeightLayout::None | WeightLayout::Float => continue,
        };
        let Some(wid) = l.inputs.iter().copied().find(|&t| q.tensor(t).kind == TensorKind::Weight) else { continue };
        let Some(TensorData::F32(w)) = &q.tensor(wid).data else {
            return Err(QuantError::NoFloatWeights(l.name.clone()));
        };
        let qw = quantize_weights(w, cout, bits, true, true, method);
        let wt = q.tensor_mut(wid);
        wt.dtype = DataType::int(bits);
        wt.quant = Some(QuantParams {
            axis: if qw.scales.len() > 1 { Some(0) } else { None },
            zero_points: vec![0; qw.scales.len()],
            scales: qw.scales,
        });
        wt.data = Some(TensorData::I32(qw.q));
        q.layers[li].op = op;
        hybrid += 1;
    }
    q.validate()?;
    Ok((q, hybrid))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The float tensor `y` of a run of `g` on the float input `xs`.
    fn float_output(g: &Graph, xs: &[f32], y: crate::ir::TensorId) -> Vec<f32> {
        match crate::kernels::execute(g, &[crate::kernels::Values::F32(xs.to_vec())]).expect("runs")[y.0].clone() {
            Some(crate::kernels::Values::F32(v)) => v,
            other => panic!("float output, got {other:?}"),
        }
    }

    /// `x [2, 3] -> fc (2 outputs) -> y`: the weights become int8 per channel, the layer hybrid
    /// with asymmetric rows, the input, bias and output stay float; the hybrid run is within a
    /// quantization step of the float one.
    #[test]
    fn fully_connected_layers_become_hybrid() {
        let g = crate::quant::test_graphs::one_fc(
            vec![2, 3],
            vec![0.5, -1.0, 0.25, 2.0, 0.125, -0.75],
            vec![0.1, -0.2],
            false,
        );
        let (x, y, w, b) = (g.inputs[0], g.outputs[0], g.layers[0].inputs[1], g.layers[0].inputs[2]);
        let (q, n) = quantize_dynamic(&g, 8, ClipMethod::MinMax).expect("quantized");
        assert_eq!(n, 1);
        assert!(matches!(&q.layers[0].op, Op::FullyConnected(f) if f.asymmetric_inputs));
        assert_eq!(q.tensor(w).dtype, DataType::int(8));
        assert_eq!(q.tensor(w).quant.as_ref().map(|p| p.scales.len()), Some(2));
        assert_eq!(
            (q.tensor(x).dtype, q.tensor(b).dtype, q.tensor(y).dtype),
            (DataType::F32, DataType::F32, DataType::F32)
        );
        let xs = vec![1.0f32, -2.0, 0.5, 0.0, 3.0, -1.0];
        let (f, h) = (float_output(&g, &xs, y), float_output(&q, &xs, y));
        for (a, b) in f.iter().zip(&h) {
            assert!((a - b).abs() < 0.05, "float {a} vs hybrid {b}");
        }
        assert_ne!(f, h, "the hybrid run quantizes");
    }

    /// A convolution and a depthwise convolution become hybrid with per-channel int8 weights,
    /// a one-channel convolution with its one scale (LiteRT's per-tensor hybrid kernel,
    /// symmetric images); the hybrid run stays close to the float one.
    #[test]
    fn convolutions_become_hybrid_one_output_channel_per_tensor() {
        let text = "name = \"t\"\ninput = { name = \"input\", shape = [1, 6, 6, 8] }\n\
            [[layer]]\nname = \"c\"\nop = \"conv2d\"\nfilters = 16\nkernel = 3\nstride = 1\npadding = \"same\"\n\
            [[layer]]\nname = \"d\"\nop = \"depthwise\"\nkernel = 3\nstride = 2\npadding = \"same\"\n\
            [[layer]]\nname = \"one\"\nop = \"conv2d\"\nfilters = 1\nkernel = 1\nstride = 1\npadding = \"same\"\n";
        let mut g = crate::import::model_file::parse("t.toml", text, &Default::default()).expect("model");
        crate::quant::synthetic::materialize(&mut g, 7);
        let (q, n) = quantize_dynamic(&g, 8, ClipMethod::MinMax).expect("quantized");
        assert_eq!(n, 3);
        let hybrid: Vec<bool> = q.layers.iter().map(|l| q.is_hybrid(l)).collect();
        assert_eq!(hybrid, [true, true, true]);
        let scales = |i: usize| q.weights_of(&q.layers[i]).and_then(|w| w.quant.as_ref()).map(|p| p.scales.len());
        assert_eq!((scales(0), scales(1), scales(2)), (Some(16), Some(16), Some(1)));
        let xs: Vec<f32> = (0..6 * 6 * 8).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let y = g.outputs[0];
        let (f, h) = (float_output(&g, &xs, y), float_output(&q, &xs, y));
        let peak = f.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = f.iter().zip(&h).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst <= 0.03 * peak, "worst {worst} of {peak}");
        assert_ne!(f, h, "the hybrid run quantizes");
    }
}
