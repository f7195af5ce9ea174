//! Constant folding of integer shape arithmetic at import, as the ONNX importer folds its
//! exporters' shape subgraphs (`import/onnx/fold.rs`). The TFLite converter writes a Keras
//! model with a dynamic batch (`shape_signature` -1) as `SHAPE -> STRIDED_SLICE -> PACK ->
//! RESHAPE`: the RESHAPE's new shape is computed at run time from the batch. The file's
//! shapes are static (the dynamic batch is stored as 1), so once they are read every such
//! value is a constant: SHAPE of a tensor becomes its shape, and a layout operator
//! (STRIDED_SLICE, SLICE, CONCATENATION, RESHAPE, SQUEEZE, EXPAND_DIMS, GATHER, TRANSPOSE,
//! TILE, PAD) or PACK whose inputs are all integer constants and whose output is an
//! unquantized integer tensor becomes its output constant, evaluated by the layout family's
//! own [`crate::ir::Layout::apply`] (the same arithmetic as the kernels). The RESHAPE reading such a
//! constant then imports as any RESHAPE (its output shape is the file's).
//!
//! Nothing else is folded: an operator that computes on activations stays a layer (or is
//! reported unsupported), and float constants are never evaluated here.

use super::generated::tflite as fb;
use super::{ops, Importer, LayerErr};
use crate::ir::{DataType, Graph, Op, TensorData, TensorId, TensorKind};

/// The layout operators folded when their inputs are integer constants (read by
/// `ops::layout`, so the fold and the layer agree on what the operator means).
const LAYOUT: &[fb::BuiltinOperator] = &[
    fb::BuiltinOperator::StridedSlice,
    fb::BuiltinOperator::Slice,
    fb::BuiltinOperator::Concatenation,
    fb::BuiltinOperator::Reshape,
    fb::BuiltinOperator::Squeeze,
    fb::BuiltinOperator::ExpandDims,
    fb::BuiltinOperator::Gather,
    fb::BuiltinOperator::Transpose,
    fb::BuiltinOperator::Tile,
    fb::BuiltinOperator::Pad,
];

/// An integer constant's values.
fn ints(g: &Graph, t: TensorId) -> Option<Vec<i64>> {
    let t = g.tensor(t);
    if t.quant.is_some() {
        return None;
    }
    t.data.as_ref().and_then(TensorData::ints_i64)
}

/// An unquantized int32 or int64 tensor (what shape arithmetic produces).
fn shape_int(g: &Graph, t: TensorId) -> bool {
    let t = g.tensor(t);
    t.quant.is_none() && matches!(t.dtype, DataType::Int { bits: 32 | 64, signed: true })
}

impl Importer<'_> {
    /// Folds operator `index` into constants if it is integer shape arithmetic on constants
    /// (module documentation); `Ok(false)`: not foldable, read it as a layer.
    pub(super) fn fold(&self, cx: &mut ops::ReadCtx<'_, '_>) -> Result<bool, LayerErr> {
        let (index, code, inputs, outputs, opts) = (cx.index, cx.code, cx.inputs, cx.outputs, cx.opts);
        let name = super::codes::builtin_name(code as i32);
        let inv = |m: String| LayerErr::Other(self.invalid(format!("operator {index} ({name}): {m}")));
        let [y] = outputs[..] else { return Ok(false) };
        if !shape_int(cx.g, y) {
            return Ok(false);
        }
        let present: Vec<TensorId> = inputs.iter().flatten().copied().collect();
        let values: Vec<i64> = match code {
            fb::BuiltinOperator::Shape => {
                let [x] = present[..] else { return Err(inv(format!("{} inputs, expected 1", present.len()))) };
                let shape = cx.g.tensor(x).shape.clone();
                shape.iter().map(|&d| d as i64).collect()
            }
            fb::BuiltinOperator::Pack => {
                let Some(vals) = present.iter().map(|&t| ints(cx.g, t)).collect::<Option<Vec<_>>>() else {
                    return Ok(false);
                };
                let axis = match opts {
                    Some(fb::BuiltinOptionsRef::PackOptions(o)) => {
                        o.axis().map_err(|e| LayerErr::Other(self.corrupt(e)))?
                    }
                    _ => 0,
                };
                let first = cx.g.tensor(present.first().copied().ok_or_else(|| inv("no inputs".into()))?).shape.clone();
                if present.iter().any(|&t| cx.g.tensor(t).shape != first) {
                    return Err(inv("inputs of different shapes".into()));
                }
                let rank = first.len() as i64 + 1;
                let a = if axis < 0 { i64::from(axis) + rank } else { i64::from(axis) };
                if a < 0 || a >= rank {
                    return Err(inv(format!("axis {axis} out of range for rank {rank}")));
                }
                // PACK is a concatenation along a new axis of size 1 per input.
                let mut s = first.clone();
                s.insert(a as usize, 1);
                let shapes = vec![s; vals.len()];
                let refs: Vec<&[i64]> = vals.iter().map(|v| v.as_slice()).collect();
                crate::kernels::layout::concat(&refs, &shapes, a as usize)
            }
            c if LAYOUT.contains(&c) => {
                let Some(vals) = present.iter().map(|&t| ints(cx.g, t)).collect::<Option<Vec<_>>>() else {
                    return Ok(false);
                };
                let layers = ops::read(cx)?;
                let [layer] = &layers[..] else {
                    return Err(inv(format!("read as {} layers, not one", layers.len())));
                };
                let Op::Layout(layout) = &layer.op else {
                    return Err(inv(format!("read as a {} layer, not a layout op", layer.op.name())));
                };
                let shapes: Vec<Vec<usize>> = layer.inputs.iter().map(|&t| cx.g.tensor(t).shape.clone()).collect();
                let data: Vec<&[i64]> = layer
                    .inputs
                    .iter()
                    .map(|t| present.iter().position(|p| p == t).map(|i| vals[i].as_slice()))
                    .collect::<Option<_>>()
                    .ok_or_else(|| inv("a layer input that is not an operator input".into()))?;
                layout.apply(&shapes, &data, 0).map_err(inv)?.swap_remove(0)
            }
            _ => return Ok(false),
        };
        let out = cx.g.tensor(y);
        if values.len() as u64 != out.elements() {
            return Err(inv(format!(
                "folds to {} values, but output tensor {} has shape {:?}",
                values.len(),
                y.0,
                out.shape
            )));
        }
        let data = if out.dtype.bits() == 32 {
            let v = values.iter().map(|&v| i32::try_from(v)).collect::<Result<Vec<_>, _>>();
            TensorData::I32(v.map_err(|_| inv(format!("a value of {values:?} does not fit the int32 output")))?)
        } else {
            TensorData::I64(values)
        };
        let out = cx.g.tensor_mut(y);
        out.data = Some(data);
        out.kind = TensorKind::Constant;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use crate::import::tflite::import_tflite;

    /// Keras' dynamic batch: four `SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE` chains fold
    /// into constant shapes; the RESHAPEs import as RESHAPE layers of the file's shapes.
    #[test]
    fn dynamic_batch_shape_arithmetic_folds() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/blazeface_float32_dynbatch.tflite");
        let m = import_tflite(path).expect("imports");
        let g = &m.graph;
        // No layer is left of SHAPE, STRIDED_SLICE or PACK: only the RESHAPEs read their results.
        assert!(g.layers.iter().all(|l| !l.name.contains("shape_") && !l.name.contains("pack")), "{:?}", g.layers);
        for t in [58, 59, 60] {
            assert!(m.tensor(t).is_some_and(|t| g.tensor(t).data.is_some()), "tensor {t} is a constant");
        }
        let pack = g.tensor(m.tensor(60).unwrap());
        assert_eq!(pack.data, Some(crate::ir::TensorData::I32(vec![1, 128, 16])));
    }
}
