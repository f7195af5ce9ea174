//! The recurrent family, [`Op::Recurrent`]: UNIDIRECTIONAL_SEQUENCE_LSTM (what the TFLite
//! converter fuses a Keras LSTM into) reads as the IR's LSTM over the whole sequence, in float.
//!
//! TFLite's operands, by position: the input `[B, T, I]` (`[T, B, I]` with `time_major`);
//! input-to-gate weights `[H, I]` for the input, forget, cell and output gates (1-4),
//! recurrent weights `[H, H]` in the same order (5-8), peepholes (9-11), gate biases `[H]`
//! (12-15), projection weights and bias (16, 17), the output and cell states `[B, H]` (18,
//! 19), layer-norm coefficients (20-23). The IR's LSTM stacks the gates in ONNX's `iofc`
//! order: `W` `[1, 4H, I]`, `R` `[1, 4H, H]` and `B` `[1, 8H]` (the gate biases, then zeros
//! for the recurrent bias TFLite does not have); the states become `[1, B, H]`. A batch-major
//! input is transposed to time-major before the layer and the sequence output back after it
//! (a RESHAPE, a view, when the batch or the sequence is 1). The layer's last hidden and
//! cell states are outputs of their own that nothing reads.
//!
//! Refused by name: integer and hybrid LSTMs (LiteRT's 8x8_16 integer kernel and its hybrid
//! kernel are not implemented), CIFG (no input gate), peepholes, projection, layer
//! normalization and a cell activation other than TANH; `cell_clip` (10 in Keras' conversions)
//! is the layer's. The
//! float kernel is the recurrent family's (`ops/recurrent.rs`): LiteRT's float LSTM computes
//! its gate projections with its optimized FULLY_CONNECTED (the same kernel in the reference
//! resolver), whose summation order is not the reference's, so float outputs agree within
//! rounding (`tests/op_goldens.rs`: within 1e-6 of the output's largest magnitude), not bit for bit.

use super::{corrupt, ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::LayerErr;
use crate::ir::{
    Activation, DataType, Direction, Layer, Layout, Op, Recurrent, RecurrentKind, Tensor, TensorData, TensorId,
    TensorKind,
};

/// The operand positions of UNIDIRECTIONAL_SEQUENCE_LSTM.
const INPUT_GATE_W: usize = 1;
/// Input-to-gate weights of the forget, cell and output gates.
const W_FCO: [usize; 3] = [2, 3, 4];
const INPUT_GATE_R: usize = 5;
const R_FCO: [usize; 3] = [6, 7, 8];
const PEEPHOLES: [usize; 3] = [9, 10, 11];
const INPUT_GATE_B: usize = 12;
const B_FCO: [usize; 3] = [13, 14, 15];
const PROJECTION: [usize; 2] = [16, 17];
const STATES: [usize; 2] = [18, 19];
const LAYER_NORM: [usize; 4] = [20, 21, 22, 23];

/// UNIDIRECTIONAL_SEQUENCE_LSTM as layers (module documentation).
pub(in crate::import::tflite) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Vec<Layer>, LayerErr> {
    let c = corrupt(cx.imp);
    let Some(fb::BuiltinOptionsRef::UnidirectionalSequenceLstmOptions(o)) = cx.opts else {
        return Err(cx.inv("no UnidirectionalSequenceLSTMOptions".into()));
    };
    if cx.inputs.iter().flatten().any(|&t| cx.g.tensor(t).dtype != DataType::F32) {
        return Err(LayerErr::Unsupported(
            " with integer tensors (LiteRT's integer and hybrid LSTM kernels are not implemented; float32 only)".into(),
        ));
    }
    let act = o.fused_activation_function().map_err(c)?;
    if act != fb::ActivationFunctionType::Tanh {
        return Err(LayerErr::Unsupported(format!(
            " with cell activation {} (TANH only)",
            crate::import::tflite::codes::activation_name(act as i32)
        )));
    }
    // proj_clip only acts on a projection (refused below); cell_clip > 0 clips the cell state.
    let cell_clip = o.cell_clip().map_err(c)?;
    if !cell_clip.is_finite() || cell_clip < 0.0 {
        return Err(cx.inv(format!("cell_clip {cell_clip} must be 0 (none) or positive")));
    }
    let cell_clip = (cell_clip > 0.0).then_some(cell_clip);
    if o.diagonal_recurrent_tensors().map_err(c)? {
        return Err(LayerErr::Unsupported(" with diagonal_recurrent_tensors".into()));
    }
    let time_major = o.time_major().map_err(c)?;
    let x = cx.input(0)?;
    let present = |k: usize| cx.optional(k).is_some();
    if !present(INPUT_GATE_W) {
        return Err(LayerErr::Unsupported(" with CIFG (no input gate)".into()));
    }
    for (what, ks) in
        [("peepholes", &PEEPHOLES[..]), ("projection", &PROJECTION[..]), ("layer normalization", &LAYER_NORM[..])]
    {
        if ks.iter().any(|&k| present(k)) {
            return Err(LayerErr::Unsupported(format!(" with {what}")));
        }
    }
    let xs = cx.g.tensor(x).shape.clone();
    let [a0, a1, i] = xs[..] else {
        return Err(cx.inv(format!("input 0 has shape {xs:?}, expected [batch, steps, input]")));
    };
    let (t, b) = if time_major { (a0, a1) } else { (a1, a0) };
    let h = cx.g.tensor(cx.input(W_FCO[0])?).shape.first().copied().unwrap_or(0);
    // The gates in the IR's `iofc` order.
    let gates = |w: usize, fco: [usize; 3]| [w, fco[2], fco[0], fco[1]];
    let weights = |cx: &ReadCtx<'_, '_>, ks: [usize; 4], cols: usize, what: &str| -> Result<Vec<f32>, LayerErr> {
        let mut out = Vec::with_capacity(4 * h * cols);
        for k in ks {
            let tid = cx.input(k)?;
            let tt = cx.g.tensor(tid);
            let want = if cols == 1 { vec![h] } else { vec![h, cols] };
            match &tt.data {
                Some(TensorData::F32(v)) if tt.shape == want => out.extend_from_slice(v),
                Some(_) | None => {
                    return Err(cx.inv(format!(
                        "{what} operand {k} ('{}') must be a float32 constant of shape {want:?}, got {:?}{}",
                        tt.name,
                        tt.shape,
                        if tt.data.is_none() { " without values" } else { "" }
                    )))
                }
            }
        }
        Ok(out)
    };
    let w = weights(cx, gates(INPUT_GATE_W, W_FCO), i, "input weight")?;
    let r = weights(cx, gates(INPUT_GATE_R, R_FCO), h, "recurrent weight")?;
    let mut bias = weights(cx, gates(INPUT_GATE_B, B_FCO), 1, "gate bias")?;
    bias.resize(8 * h, 0.0);
    let mut states = Vec::new();
    for k in STATES {
        let tid = cx.input(k)?;
        let tt = cx.g.tensor(tid);
        if tt.shape != [b, h] {
            return Err(cx.inv(format!(
                "state operand {k} ('{}') has shape {:?}, expected {:?}",
                tt.name,
                tt.shape,
                [b, h]
            )));
        }
        // A variable state (no values in the file) starts at zero, as LiteRT allocates it.
        states.push(match &tt.data {
            Some(TensorData::F32(v)) => v.clone(),
            Some(_) => return Err(cx.inv(format!("state operand {k} ('{}') must be float32", tt.name))),
            None => vec![0.0; b * h],
        });
    }
    let y = cx.out()?;
    let want = if time_major { vec![t, b, h] } else { vec![b, t, h] };
    if cx.g.tensor(y).shape != want {
        return Err(cx.inv(format!("output has shape {:?}, expected {want:?}", cx.g.tensor(y).shape)));
    }
    let name = cx.name();
    let constant = |g: &mut crate::ir::Graph, suffix: &str, shape: Vec<usize>, kind, v: Vec<f32>| -> TensorId {
        g.add_tensor(Tensor {
            data: Some(TensorData::F32(v)),
            ..Tensor::float(format!("{name}_{suffix}"), shape, kind)
        })
    };
    let wt = constant(cx.g, "W", vec![1, 4 * h, i], TensorKind::Weight, w);
    let rt = constant(cx.g, "R", vec![1, 4 * h, h], TensorKind::Weight, r);
    let bt = constant(cx.g, "B", vec![1, 8 * h], TensorKind::Bias, bias);
    let h0 = constant(cx.g, "h0", vec![1, b, h], TensorKind::Constant, states.remove(0));
    let c0 = constant(cx.g, "c0", vec![1, b, h], TensorKind::Constant, states.remove(0));
    let act_tensor = |g: &mut crate::ir::Graph, suffix: &str, shape: Vec<usize>| {
        g.add_tensor(Tensor::float(format!("{name}_{suffix}"), shape, TensorKind::Activation))
    };
    let layer = |suffix: &str, op: Op, inputs: Vec<TensorId>, outputs: Vec<TensorId>| Layer {
        name: format!("{name}{suffix}"),
        op,
        inputs,
        outputs,
        activation: Activation::None,
    };
    // [B, T, X] <-> [T, B, X]: a view when either is 1.
    let swap = |shape: Vec<usize>| {
        if b == 1 || t == 1 {
            Op::Layout(Layout::Reshape { shape: shape.iter().map(|&d| d as i64).collect() })
        } else {
            Op::Layout(Layout::Transpose { perm: vec![1, 0, 2] })
        }
    };
    let mut layers = Vec::new();
    let xt = if time_major {
        x
    } else {
        let xt = act_tensor(cx.g, "time_major", vec![t, b, i]);
        layers.push(layer("_to_time_major", swap(vec![t, b, i]), vec![x], vec![xt]));
        xt
    };
    let ys = act_tensor(cx.g, "Y", vec![t, 1, b, h]);
    let yh = act_tensor(cx.g, "Y_h", vec![1, b, h]);
    let yc = act_tensor(cx.g, "Y_c", vec![1, b, h]);
    let lstm = Recurrent {
        kind: RecurrentKind::Lstm,
        hidden: h,
        direction: Direction::Forward,
        linear_before_reset: false,
        cell_clip,
    };
    layers.push(layer("", Op::Recurrent(lstm), vec![xt, wt, rt, bt, h0, c0], vec![ys, yh, yc]));
    let reshape = |shape: [usize; 3]| Op::Layout(Layout::Reshape { shape: shape.iter().map(|&d| d as i64).collect() });
    if time_major {
        layers.push(layer("_sequence", reshape([t, b, h]), vec![ys], vec![y]));
    } else {
        let yt = act_tensor(cx.g, "Y_time_major", vec![t, b, h]);
        layers.push(layer("_sequence", reshape([t, b, h]), vec![ys], vec![yt]));
        layers.push(layer("_to_batch_major", swap(vec![b, t, h]), vec![yt], vec![y]));
    }
    Ok(layers)
}

/// The TFLite export does not write recurrent layers.
pub(super) fn write(cx: &mut WriteCtx<'_>, r: &Recurrent) -> Result<Written, ExportError> {
    Err(cx.err(format!(
        "the TFLite export does not write {} layers (UNIDIRECTIONAL_SEQUENCE_LSTM is imported, not written); write the model as .aqm",
        r.label()
    )))
}

#[cfg(test)]
mod tests {
    use crate::import::tflite::import_tflite;
    use crate::ir::Op;

    fn fixture(path: &str) -> String {
        format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
    }

    /// A batch-major Keras LSTM of batch 2: transposed to time-major, the LSTM with the
    /// gates restacked, the sequence reshaped and transposed back.
    #[test]
    fn batch_major_lstm_reads_as_transposes_around_the_layer() {
        let m = import_tflite(fixture("ops/lstm_batch2_float32.tflite")).expect("imports");
        let g = &m.graph;
        let ops: Vec<&str> = g.layers.iter().map(|l| l.op.name()).collect();
        assert_eq!(ops, ["transpose", "lstm", "reshape", "transpose"], "{ops:?}");
        let Op::Recurrent(r) = &g.layers[1].op else { panic!("not recurrent") };
        assert_eq!(r.hidden, 4);
        let w = g.tensor(g.layers[1].inputs[1]);
        assert_eq!(w.shape, [1, 16, 3]);
        assert_eq!(g.tensor(g.layers[1].inputs[3]).shape, [1, 32]);
    }

    /// LiteRT's integer LSTM (int8 activations and weights, int16 cell state) is refused by
    /// name, with the file.
    #[test]
    fn integer_lstm_is_refused_by_name() {
        let path = fixture("tflite/lstm_int8.tflite");
        let e = import_tflite(&path).expect_err("refused").to_string();
        assert!(e.contains("lstm_int8.tflite"), "{e}");
        assert!(e.contains("UNIDIRECTIONAL_SEQUENCE_LSTM with integer tensors"), "{e}");
    }
}
