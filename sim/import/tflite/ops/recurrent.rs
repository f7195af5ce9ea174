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
//! LiteRT's integer LSTM (full-integer conversion: int8 input, weights and output state, int32
//! biases, an int16 cell state) keeps its quantization: `W` and `R` int8 with one scale per
//! row (each gate's), `B` int32 (the recurrent half zeros of scale 1), the states at theirs
//! (a variable int8 state at its zero point, as LiteRT resets it), the sequence at the
//! operator's hidden-state intermediate's, which must be the output's; the family's integer
//! kernel runs it (`ops/recurrent.rs`). Refused by name: the hybrid LSTM (float activations,
//! int8 weights) and other mixes of types, CIFG (no input gate), peepholes, projection, layer
//! normalization and a cell activation other than TANH; `cell_clip` (10 in Keras'
//! conversions) is the layer's. The
//! float kernel is the recurrent family's (`ops/recurrent.rs`): LiteRT's float LSTM computes
//! its gate projections with its optimized FULLY_CONNECTED (the same kernel in the reference
//! resolver), whose summation order is not the reference's, so float outputs agree within
//! rounding (`tests/op_goldens.rs`: within 1e-6 of the output's largest magnitude), not bit for bit.

use super::{corrupt, ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::LayerErr;
use crate::ir::{
    Activation, DataType, Direction, Layer, Layout, Op, QuantParams, Recurrent, RecurrentKind, Tensor, TensorData,
    TensorId, TensorKind,
};

/// A gate constant's values stacked over the gates: floats, or integers with one scale and
/// zero point per row.
#[derive(Default)]
struct Stacked {
    f32: Vec<f32>,
    int: Vec<i32>,
    scales: Vec<f32>,
    zero_points: Vec<i64>,
}

/// A state's initial value: floats, or integers with their scale, zero point and width.
enum StateInit {
    F32(Vec<f32>),
    Int(Vec<i32>, (f32, i64), u8),
}

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
    let x = cx.input(0)?;
    let integer = cx.g.tensor(x).dtype == DataType::int(8);
    let types_fit = |cx: &ReadCtx<'_, '_>| {
        cx.inputs.iter().enumerate().all(|(k, t)| {
            let Some(t) = t else { return true };
            let dt = cx.g.tensor(*t).dtype;
            match (integer, k) {
                (false, _) => dt == DataType::F32,
                (true, 12..=15) => dt == DataType::int(32),
                (true, 19) => dt == DataType::int(16),
                (true, _) => dt == DataType::int(8),
            }
        })
    };
    if !types_fit(cx) {
        return Err(LayerErr::Unsupported(
            " with these operand types (float32 throughout, or LiteRT's integer LSTM: int8 input, weights and output \
             state, int32 biases, an int16 cell state; the hybrid and 16-bit-activation kernels are not implemented)"
                .into(),
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
    // Each gate's constant (float32, or integers with one scale per tensor), stacked.
    let weights = |cx: &ReadCtx<'_, '_>, ks: [usize; 4], cols: usize, what: &str| -> Result<Stacked, LayerErr> {
        let mut out = Stacked::default();
        for k in ks {
            let tid = cx.input(k)?;
            let tt = cx.g.tensor(tid);
            let want = if cols == 1 { vec![h] } else { vec![h, cols] };
            let quant = tt.quant.as_ref().filter(|q| !q.is_per_channel()).map(|q| q.channel(0));
            let ints = tt.data.as_ref().and_then(TensorData::ints);
            match (&tt.data, ints, quant) {
                (Some(TensorData::F32(v)), _, _) if tt.shape == want && !integer => out.f32.extend_from_slice(v),
                (_, Some(v), Some((s, z))) if tt.shape == want && integer => {
                    out.int.extend_from_slice(&v);
                    out.scales.extend(std::iter::repeat_n(s, h));
                    out.zero_points.extend(std::iter::repeat_n(z, h));
                }
                _ => {
                    return Err(cx.inv(format!(
                        "{what} operand {k} ('{}') must be a {} constant of shape {want:?}, got {:?}{}",
                        tt.name,
                        if integer { "per-tensor quantized integer" } else { "float32" },
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
    // The recurrent bias TFLite does not have: zeros (of scale 1 when integers).
    if integer {
        bias.int.resize(8 * h, 0);
        bias.scales.resize(8 * h, 1.0);
        bias.zero_points.resize(8 * h, 0);
    } else {
        bias.f32.resize(8 * h, 0.0);
    }
    let mut states = Vec::new();
    for (k, bits) in STATES.into_iter().zip([8u8, 16]) {
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
        let quant = tt.quant.as_ref().filter(|q| !q.is_per_channel()).map(|q| q.channel(0));
        // A variable state (no values in the file) starts at zero, as LiteRT allocates it
        // (an int8 state at its zero point, as LiteRT resets it).
        let ints = tt.data.as_ref().and_then(TensorData::ints);
        states.push(match (&tt.data, ints, integer, quant) {
            (Some(TensorData::F32(v)), _, false, _) => StateInit::F32(v.clone()),
            (None, _, false, _) => StateInit::F32(vec![0.0; b * h]),
            (Some(_), Some(v), true, Some(q)) => StateInit::Int(v.into_owned(), q, bits),
            (None, _, true, Some(q)) => StateInit::Int(vec![if bits == 8 { q.1 as i32 } else { 0 }; b * h], q, bits),
            _ => {
                return Err(cx.inv(format!(
                    "state operand {k} ('{}') must be {}",
                    tt.name,
                    if integer { "quantized per tensor" } else { "float32" }
                )))
            }
        });
    }
    let y = cx.out()?;
    let want = if time_major { vec![t, b, h] } else { vec![b, t, h] };
    if cx.g.tensor(y).shape != want {
        return Err(cx.inv(format!("output has shape {:?}, expected {want:?}", cx.g.tensor(y).shape)));
    }
    // Integers: the sequence output is written at the scale of LiteRT's hidden-state
    // intermediate (the fifth), which must be the output's (the converter makes them one).
    let out_quant = cx.g.tensor(y).quant.clone();
    if integer {
        let hidden = cx.intermediates.get(4).map(|&t| cx.g.tensor(t));
        if hidden.is_none_or(|t| t.quant != out_quant || t.dtype != DataType::int(8)) {
            return Err(LayerErr::Unsupported(format!(
                " whose hidden-state intermediate ({}) is not quantized as its output",
                hidden.map_or("absent".to_string(), |t| format!("'{}'", t.name))
            )));
        }
    }
    let name = cx.name();
    let constant = |g: &mut crate::ir::Graph, suffix: &str, shape: Vec<usize>, kind, v: Stacked, dtype| -> TensorId {
        let axis = Some(1);
        let (data, quant) = if integer {
            (TensorData::I32(v.int), Some(QuantParams { scales: v.scales, zero_points: v.zero_points, axis }))
        } else {
            (TensorData::F32(v.f32), None)
        };
        g.add_tensor(Tensor {
            data: Some(data),
            dtype: if integer { dtype } else { DataType::F32 },
            quant,
            ..Tensor::float(format!("{name}_{suffix}"), shape, kind)
        })
    };
    let wt = constant(cx.g, "W", vec![1, 4 * h, i], TensorKind::Weight, w, DataType::int(8));
    let rt = constant(cx.g, "R", vec![1, 4 * h, h], TensorKind::Weight, r, DataType::int(8));
    let bt = constant(cx.g, "B", vec![1, 8 * h], TensorKind::Bias, bias, DataType::int(32));
    let state_tensor = |g: &mut crate::ir::Graph, suffix: &str, init: StateInit| -> TensorId {
        let t = Tensor::float(format!("{name}_{suffix}"), vec![1, b, h], TensorKind::Constant);
        g.add_tensor(match init {
            StateInit::F32(v) => Tensor { data: Some(TensorData::F32(v)), ..t },
            StateInit::Int(v, (s, z), bits) => Tensor {
                data: Some(TensorData::I32(v)),
                dtype: DataType::int(bits),
                quant: Some(QuantParams::per_tensor(s, z)),
                ..t
            },
        })
    };
    let state_quant: Vec<Option<(DataType, QuantParams)>> = states
        .iter()
        .map(|s| match s {
            StateInit::F32(_) => None,
            StateInit::Int(_, (sc, z), bits) => Some((DataType::int(*bits), QuantParams::per_tensor(*sc, *z))),
        })
        .collect();
    let h0 = state_tensor(cx.g, "h0", states.remove(0));
    let c0 = state_tensor(cx.g, "c0", states.remove(0));
    // An activation of the sequence (the output's type and quantization).
    let out_dtype = cx.g.tensor(y).dtype;
    let act_tensor = |g: &mut crate::ir::Graph, suffix: &str, shape: Vec<usize>| {
        let t = Tensor::float(format!("{name}_{suffix}"), shape, TensorKind::Activation);
        g.add_tensor(Tensor { dtype: out_dtype, quant: out_quant.clone(), ..t })
    };
    // A state's last value (the state's type and quantization).
    let state_out = |g: &mut crate::ir::Graph, suffix: &str, q: &Option<(DataType, QuantParams)>| {
        let t = Tensor::float(format!("{name}_{suffix}"), vec![1, b, h], TensorKind::Activation);
        g.add_tensor(match q {
            Some((dtype, quant)) => Tensor { dtype: *dtype, quant: Some(quant.clone()), ..t },
            None => t,
        })
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
        let (dtype, quant) = (cx.g.tensor(x).dtype, cx.g.tensor(x).quant.clone());
        let xt = Tensor::float(format!("{name}_time_major"), vec![t, b, i], TensorKind::Activation);
        let xt = cx.g.add_tensor(Tensor { dtype, quant, ..xt });
        layers.push(layer("_to_time_major", swap(vec![t, b, i]), vec![x], vec![xt]));
        xt
    };
    let ys = act_tensor(cx.g, "Y", vec![t, 1, b, h]);
    let yh = state_out(cx.g, "Y_h", &state_quant[0]);
    let yc = state_out(cx.g, "Y_c", &state_quant[1]);
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

    /// LiteRT's integer LSTM keeps its quantization: one weight scale per gate (per row of
    /// the stacked `W`, its zero points 0), the output state starting at its zero point (a
    /// real 0), the cell state int16 at its power-of-two scale (2^-14 in this model), the
    /// sequence at the output's scale.
    #[test]
    fn integer_lstm_keeps_its_quantization() {
        let m = import_tflite(fixture("ops/lstm_seq_int8.tflite")).expect("imports");
        let g = &m.graph;
        let l = g.layers.iter().find(|l| matches!(l.op, Op::Recurrent(_))).expect("an LSTM");
        let t = |k: usize| g.tensor(l.inputs[k]);
        let w = t(1).quant.as_ref().expect("quantized");
        assert_eq!((w.scales.len(), w.axis), (28, Some(1)));
        let mut gate_scales: Vec<f32> = w.scales.chunks(7).map(|c| c[0]).collect();
        assert!(w.scales.chunks(7).all(|c| c.iter().all(|&s| s == c[0])));
        gate_scales.dedup();
        assert_eq!(gate_scales.len(), 4, "{gate_scales:?}");
        let h0 = t(4).quant.as_ref().expect("quantized").channel(0);
        assert_eq!(crate::kernels::const_i32(t(4)), Some(vec![h0.1 as i32; 7]));
        assert_eq!(t(5).dtype, crate::ir::DataType::int(16));
        assert_eq!(t(5).quant.as_ref().map(|q| q.channel(0)), Some((2f32.powi(-14), 0)));
        assert_eq!(g.tensor(l.outputs[0]).quant, g.tensor(g.outputs[0]).quant);
    }

    /// A hybrid LSTM (float activations, int8 weights: dynamic-range quantization) is refused
    /// by name, with the file.
    #[test]
    fn hybrid_lstm_is_refused_by_name() {
        let path = fixture("tflite/lstm_hybrid.tflite");
        let e = import_tflite(&path).expect_err("refused").to_string();
        assert!(e.contains("lstm_hybrid.tflite"), "{e}");
        assert!(e.contains("UNIDIRECTIONAL_SEQUENCE_LSTM with these operand types"), "{e}");
    }
}
