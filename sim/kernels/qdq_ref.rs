//! The exact QDQ reference: a quantized graph run the way an ONNX runtime executes a QDQ
//! model with no graph optimizations. Every layer dequantizes its integer inputs and
//! constants (`(q - zero_point) * scale` in float32), computes in float32, and quantizes its
//! output with ONNX `QuantizeLinear` semantics (`x / scale` rounded half to even, plus the
//! zero point, saturated). There is no fixed-point requantization anywhere.
//!
//! This is a reference to measure the integer kernels against (they requantize with
//! LiteRT's fixed-point multipliers and round averages half away from zero, so they can
//! differ from it by one step in rare elements), not what `exec` runs.

use super::{bind_inputs, elementwise, float_layer, qrange, scale_zp, ExecError, Values};
use crate::ir::Graph;

/// Runs `g` with exact QDQ arithmetic on `inputs` (in `g.inputs` order, each integer or
/// float as the input tensor's type) and returns every tensor's values, indexed by
/// [`crate::ir::TensorId`] (integers for quantized tensors, floats otherwise).
pub fn run_qdq_reference(g: &Graph, inputs: &[Values]) -> Result<Vec<Option<Values>>, ExecError> {
    let mut vals: Vec<Option<Values>> = vec![None; g.tensors.len()];
    bind_inputs(g, inputs.to_vec(), &mut vals)?;
    for l in &g.layers {
        // Dequantizes integer inputs; QUANTIZE and DEQUANTIZE pass the real values through.
        let ys = float_layer(g, l, &vals, true)?;
        for (&o, y) in l.outputs.iter().zip(ys) {
            let out = g.tensor(o);
            let v = if out.dtype.is_int() {
                let (s, z) = scale_zp(out);
                let (qmin, qmax) = qrange(out.dtype);
                Values::Int(elementwise::quantize_half_even(&y, s, z, qmin, qmax))
            } else {
                Values::F32(y)
            };
            vals[o.0] = Some(v);
        }
    }
    Ok(vals)
}
