//! Accuracy of a quantized graph against its float model over a set of inputs: output SQNR
//! (all inputs together), top-1 agreement, and per-layer SQNR of every integer layer output
//! against the same tensor of the float reference graph.

use rayon::prelude::*;

use crate::ir::Graph;
use crate::kernels::{dequantize_per_tensor, run_float, Arithmetic, ExecError, Executor, Values};

/// SQNR of one layer's output over all inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerEval {
    /// Layer name.
    pub layer: String,
    /// `10 log10(sum ref^2 / sum (ref - deq)^2)` over all inputs.
    pub sqnr_db: f64,
}

/// The accuracy report.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// Number of inputs.
    pub inputs: usize,
    /// Output SQNR (dB) of the dequantized output against the float model's.
    pub output_sqnr_db: f64,
    /// Fraction of inputs whose arg-max agree.
    pub top1_agreement: f64,
    /// Per integer layer, in order.
    pub layers: Vec<LayerEval>,
}

fn db(s: f64, n: f64) -> f64 {
    if n == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (s / n).log10()
    }
}

fn as_f32(v: Option<&Values>) -> Option<&Vec<f32>> {
    match v {
        Some(Values::F32(v)) => Some(v),
        _ => None,
    }
}

/// Evaluates `quantized` against `float` (outputs) and `reference` (per layer: the float
/// graph the quantizer saw, after any equalization; tensor ids must agree with `quantized`'s
/// first tensors, as [`super::ptq::quantize_graph`] guarantees).
pub fn evaluate(
    float: &Graph,
    reference: &Graph,
    quantized: &Graph,
    inputs: &[Vec<f32>],
) -> Result<EvalReport, ExecError> {
    evaluate_with(float, reference, quantized, inputs, Arithmetic::default())
}

/// [`evaluate`] with the integer graph run on a given datapath (an accelerator's
/// accumulator width, overflow and rounding) instead of LiteRT's.
pub fn evaluate_with(
    float: &Graph,
    reference: &Graph,
    quantized: &Graph,
    inputs: &[Vec<f32>],
    arith: Arithmetic,
) -> Result<EvalReport, ExecError> {
    let exec = Executor::new(quantized, arith)?;
    let same = std::ptr::eq(float, reference) || float == reference;
    let n_ref = reference.tensors.len();
    type One = (Vec<f32>, Vec<f32>, Vec<(f64, f64)>);
    let per: Vec<One> = inputs
        .par_iter()
        .map(|x| -> Result<One, ExecError> {
            let f = run_float(float, std::slice::from_ref(x))?;
            let r = if same { None } else { Some(run_float(reference, std::slice::from_ref(x))?) };
            let r = r.as_ref().unwrap_or(&f);
            let qv = exec.run(&[Values::F32(x.clone())])?;
            let mut fo = Vec::new();
            for &o in &float.outputs {
                fo.extend_from_slice(as_f32(f[o.0].as_ref()).map(|v| v.as_slice()).unwrap_or(&[]));
            }
            let mut qo = Vec::new();
            for &o in &quantized.outputs {
                match qv[o.0].as_ref() {
                    Some(Values::F32(v)) => qo.extend_from_slice(v),
                    Some(Values::Int(v)) => qo.extend(
                        quantized.tensor(o).quant.as_ref().map(|qp| dequantize_per_tensor(v, qp)).unwrap_or_default(),
                    ),
                    None => {}
                }
            }
            let mut layers = Vec::new();
            for l in &quantized.layers {
                let id = l.outputs[0];
                let t = quantized.tensor(id);
                let (Some(Values::Int(v)), Some(qp), true) = (qv[id.0].as_ref(), t.quant.as_ref(), id.0 < n_ref) else {
                    continue;
                };
                let Some(rv) = as_f32(r[id.0].as_ref()) else { continue };
                let d = dequantize_per_tensor(v, qp);
                let s: f64 = rv.iter().map(|&a| (a as f64).powi(2)).sum();
                let e: f64 = rv.iter().zip(&d).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
                layers.push((s, e));
            }
            Ok((fo, qo, layers))
        })
        .collect::<Result<_, _>>()?;
    let names: Vec<String> = quantized
        .layers
        .iter()
        .filter(|l| {
            let id = l.outputs[0];
            let t = quantized.tensor(id);
            t.dtype.is_int() && t.quant.is_some() && id.0 < n_ref
        })
        .map(|l| l.name.clone())
        .collect();
    let (mut fo, mut qo) = (Vec::new(), Vec::new());
    let mut acc = vec![(0f64, 0f64); names.len()];
    for (f, q, l) in &per {
        fo.extend_from_slice(f);
        qo.extend_from_slice(q);
        for (a, (s, e)) in acc.iter_mut().zip(l) {
            a.0 += s;
            a.1 += e;
        }
    }
    let depth = float.outputs.first().and_then(|&o| float.tensor(o).shape.last().copied()).unwrap_or(1);
    Ok(EvalReport {
        inputs: inputs.len(),
        output_sqnr_db: crate::kernels::sqnr_db(&fo, &qo),
        top1_agreement: crate::kernels::top1_agreement(&fo, &qo, depth),
        layers: names.into_iter().zip(acc).map(|(layer, (s, e))| LayerEval { layer, sqnr_db: db(s, e) }).collect(),
    })
}
