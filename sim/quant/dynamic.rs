//! Dynamic-range quantization (`accelsim quantize --dynamic`): per-token dynamic activation
//! scales as LiteRT's converter makes them without calibration data. Every fully connected
//! layer's weights become integers (per output channel, symmetric, narrow range) and the layer
//! LiteRT's hybrid form: its float input is quantized row by row (token by token) to int8 with
//! its own scale and zero point when it runs (`kernels::fc::hybrid_fully_connected`), its bias
//! and output stay float. Every other tensor stays float (LiteRT's hybrid convolution is not
//! modelled, so convolutions keep float weights).

use crate::ir::{DataType, FullyConnected, Graph, Op, QuantParams, TensorData, TensorKind};
use crate::ops::WeightLayout;
use crate::quant::clip::{quantize_weights, ClipMethod};
use crate::quant::ptq::QuantError;

/// The widest weights the hybrid kernel takes (its weights are int8; narrower ones are int8
/// values in a narrower range, as LiteRT's int4 weights are unpacked).
pub const MAX_BITS: u8 = 8;

/// The graph with every fully connected layer's weights at `bits` (2..=[`MAX_BITS`]) and the
/// layer hybrid with asymmetric rows; returns it and the number of layers made hybrid.
pub fn quantize_dynamic(g: &Graph, bits: u8, method: ClipMethod) -> Result<(Graph, usize), QuantError> {
    if !(2..=MAX_BITS).contains(&bits) {
        return Err(QuantError::DynamicWidth(bits));
    }
    let mut q = g.clone();
    let mut hybrid = 0;
    for li in 0..q.layers.len() {
        let l = &q.layers[li];
        let WeightLayout::Matrix(fc) = l.op.weight_layout() else { continue };
        let fc = fc.clone();
        let cout = fc.out_features;
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
        q.layers[li].op = Op::FullyConnected(FullyConnected { asymmetric_inputs: true, ..fc });
        hybrid += 1;
    }
    q.validate()?;
    Ok((q, hybrid))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let run = |g: &Graph| match crate::kernels::execute(g, &[crate::kernels::Values::F32(xs.clone())])
            .expect("runs")[y.0]
            .clone()
        {
            Some(crate::kernels::Values::F32(v)) => v,
            other => panic!("float output, got {other:?}"),
        };
        let (f, h) = (run(&g), run(&q));
        for (a, b) in f.iter().zip(&h) {
            assert!((a - b).abs() < 0.05, "float {a} vs hybrid {b}");
        }
        assert_ne!(f, h, "the hybrid run quantizes");
    }
}
