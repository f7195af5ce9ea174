//! Accuracy of a quantized graph against its float model over a set of inputs: output SQNR
//! (all inputs together), top-1 agreement, per-layer SQNR of every integer layer output
//! against the same tensor of the float reference graph, and, given class labels, top-1
//! (and top-5, with more than 5 classes) accuracy of both the float and the quantized model.
//!
//! The float side of an evaluation is either computed input by input beside the quantized
//! run ([`evaluate_with`]: nothing kept) or computed once and reused by many quantized
//! graphs ([`FloatRuns`], for `accelsim sensitivity`). Both score through the same
//! per-input function and sum in the same order, so they give the same numbers to the bit.

use rayon::prelude::*;

use crate::ir::{Graph, LayerId, TensorId};
use crate::kernels::{dequantize_per_tensor, run_float, top_k_accuracy, Arithmetic, ExecError, Executor, Values};

/// SQNR of one layer's output over all inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerEval {
    /// Layer name.
    pub layer: String,
    /// `10 log10(sum ref^2 / sum (ref - deq)^2)` over all inputs.
    pub sqnr_db: f64,
}

/// Accuracy against class labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelScores {
    /// Fraction of inputs whose arg-max is the label (first index on ties).
    pub top1: f64,
    /// Fraction of inputs whose 5 largest outputs hold the label; `None` with 5 classes or
    /// fewer, where it says nothing.
    pub top5: Option<f64>,
}

impl LabelScores {
    /// The scores of `outputs` (rows of `depth` classes, one per label).
    pub fn of(outputs: &[f32], depth: usize, labels: &[usize]) -> LabelScores {
        LabelScores {
            top1: top_k_accuracy(outputs, depth, labels, 1),
            top5: (depth > 5).then(|| top_k_accuracy(outputs, depth, labels, 5)),
        }
    }
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
    /// The quantized model's accuracy against the labels, when given.
    pub accuracy: Option<LabelScores>,
    /// The float model's accuracy against the labels, when given.
    pub float_accuracy: Option<LabelScores>,
}

/// Why labels cannot score a set of inputs: their count differs, or one names a class the
/// output does not have.
pub fn check_labels(labels: &[usize], inputs: usize, classes: usize) -> Result<(), String> {
    if labels.len() != inputs {
        return Err(format!("{} labels for {inputs} evaluation images; expected one label per image", labels.len()));
    }
    match labels.iter().position(|&l| l >= classes) {
        Some(i) => Err(format!(
            "label at index {i} is {}, but the model output has {classes} classes (labels 0..{})",
            labels[i],
            classes.saturating_sub(1)
        )),
        None => Ok(()),
    }
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

/// The number of classes of `g`'s first output (its last dimension).
pub fn classes(g: &Graph) -> usize {
    g.outputs.first().and_then(|&o| g.tensor(o).shape.last().copied()).unwrap_or(1)
}

/// The float side of one input: the float model's outputs, concatenated, and the values of
/// the reference graph's tensors that are scored (`None` elsewhere).
struct FloatSide {
    outputs: Vec<f32>,
    tensors: Vec<Option<Vec<f32>>>,
}

fn float_side(float: &Graph, reference: &Graph, x: &[f32], keep: &[TensorId]) -> Result<FloatSide, ExecError> {
    let same = std::ptr::eq(float, reference) || float == reference;
    let mut f = run_float(float, std::slice::from_ref(&x.to_vec()))?;
    let mut outputs = Vec::new();
    for &o in &float.outputs {
        outputs.extend_from_slice(as_f32(f[o.0].as_ref()).map(|v| v.as_slice()).unwrap_or(&[]));
    }
    let mut r = if same { std::mem::take(&mut f) } else { run_float(reference, std::slice::from_ref(&x.to_vec()))? };
    let mut tensors = vec![None; reference.tensors.len()];
    for &t in keep {
        if let Some(Values::F32(v)) = r.get_mut(t.0).and_then(Option::take) {
            tensors[t.0] = Some(v);
        }
    }
    Ok(FloatSide { outputs, tensors })
}

/// The layers of `quantized` scored per layer: those with an integer, quantized output that
/// the reference graph has too (`id < reference tensors`), with their output tensors.
fn scored_layers(quantized: &Graph, n_ref: usize) -> Vec<(LayerId, TensorId)> {
    quantized
        .layers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let id = l.outputs[0];
            let t = quantized.tensor(id);
            (t.dtype.is_int() && t.quant.is_some() && id.0 < n_ref).then_some((LayerId(i), id))
        })
        .collect()
}

/// One input's scoring: the quantized outputs (dequantized, concatenated) and, per scored
/// layer, (sum ref^2, sum (ref - deq)^2).
type Scored = (Vec<f32>, Vec<(f64, f64)>);

fn score_input(
    quantized: &Graph,
    qv: Vec<Option<Values>>,
    float: &FloatSide,
    layers: &[(LayerId, TensorId)],
) -> Result<Scored, ExecError> {
    let mut qo = Vec::new();
    for &o in &quantized.outputs {
        if let Some(v) = qv[o.0].as_ref() {
            qo.extend(v.real(quantized.tensor(o).quant.as_ref()).unwrap_or_default());
        }
    }
    let mut sums = Vec::with_capacity(layers.len());
    for &(l, id) in layers {
        let t = quantized.tensor(id);
        let (Some(Values::Int(v)), Some(qp), Some(rv)) = (qv[id.0].as_ref(), t.quant.as_ref(), &float.tensors[id.0])
        else {
            return Err(ExecError::Input(format!(
                "internal: layer '{}' has no integer output or float reference to score",
                quantized.layers[l.0].name
            )));
        };
        let d = dequantize_per_tensor(v, qp);
        let s: f64 = rv.iter().map(|&a| (a as f64).powi(2)).sum();
        let e: f64 = rv.iter().zip(&d).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
        sums.push((s, e));
    }
    Ok((qo, sums))
}

/// Sums the per-input scores in input order into a report.
fn aggregate(
    quantized: &Graph,
    layers: &[(LayerId, TensorId)],
    float_outputs: &[&[f32]],
    per: &[Scored],
    depth: usize,
    labels: Option<&[usize]>,
) -> EvalReport {
    let (mut fo, mut qo) = (Vec::new(), Vec::new());
    let mut acc = vec![(0f64, 0f64); layers.len()];
    for (f, (q, l)) in float_outputs.iter().zip(per) {
        fo.extend_from_slice(f);
        qo.extend_from_slice(q);
        for (a, (s, e)) in acc.iter_mut().zip(l) {
            a.0 += s;
            a.1 += e;
        }
    }
    EvalReport {
        inputs: per.len(),
        output_sqnr_db: crate::kernels::sqnr_db(&fo, &qo),
        top1_agreement: crate::kernels::top1_agreement(&fo, &qo, depth),
        layers: layers
            .iter()
            .zip(acc)
            .map(|(&(l, _), (s, e))| LayerEval { layer: quantized.layers[l.0].name.clone(), sqnr_db: db(s, e) })
            .collect(),
        accuracy: labels.map(|y| LabelScores::of(&qo, depth, y)),
        float_accuracy: labels.map(|y| LabelScores::of(&fo, depth, y)),
    }
}

/// Evaluates `quantized` against `float` (outputs) and `reference` (per layer: the float
/// graph the quantizer saw, after any equalization; tensor ids must agree with `quantized`'s
/// first tensors, as [`super::ptq::quantize_graph`] guarantees), scoring both against
/// `labels` when given (one per input, checked with [`check_labels`]).
pub fn evaluate(
    float: &Graph,
    reference: &Graph,
    quantized: &Graph,
    inputs: &[Vec<f32>],
    labels: Option<&[usize]>,
) -> Result<EvalReport, ExecError> {
    evaluate_with(float, reference, quantized, inputs, labels, Arithmetic::default())
}

/// [`evaluate`] with the integer graph run on a given datapath (an accelerator's
/// accumulator width, overflow and rounding) instead of LiteRT's.
pub fn evaluate_with(
    float: &Graph,
    reference: &Graph,
    quantized: &Graph,
    inputs: &[Vec<f32>],
    labels: Option<&[usize]>,
    arith: Arithmetic,
) -> Result<EvalReport, ExecError> {
    let depth = classes(float);
    if let Some(y) = labels {
        check_labels(y, inputs.len(), depth).map_err(ExecError::Input)?;
    }
    let exec = Executor::new(quantized, arith)?;
    let layers = scored_layers(quantized, reference.tensors.len());
    let keep: Vec<TensorId> = layers.iter().map(|&(_, t)| t).collect();
    let per: Vec<(Vec<f32>, Scored)> = inputs
        .par_iter()
        .map(|x| {
            let f = float_side(float, reference, x, &keep)?;
            let s = score_input(quantized, exec.run(&[Values::F32(x.clone())])?, &f, &layers)?;
            Ok((f.outputs, s))
        })
        .collect::<Result<_, ExecError>>()?;
    let (fo, scored): (Vec<Vec<f32>>, Vec<Scored>) = per.into_iter().unzip();
    let fo: Vec<&[f32]> = fo.iter().map(Vec::as_slice).collect();
    Ok(aggregate(quantized, &layers, &fo, &scored, depth, labels))
}

/// The name of the layer whose output feeds the graph's final softmax, if it ends in one.
pub fn logits_layer(g: &Graph) -> Option<String> {
    use crate::ir::{Convert, Op};
    let producer = |t| g.layers.iter().find(|l| l.outputs.contains(&t));
    let mut last = producer(*g.outputs.first()?)?;
    // Through the (de)quantization layers a quantized graph may end with.
    while matches!(last.op, Op::Convert(Convert::Quantize) | Op::Convert(Convert::Dequantize)) {
        last = producer(*last.inputs.first()?)?;
    }
    if !matches!(last.op, Op::Softmax(_)) {
        return None;
    }
    producer(*last.inputs.first()?).map(|l| l.name.clone())
}

/// The float model run once over an evaluation set, kept for scoring many quantized graphs
/// of it (the same float graph as reference: no equalization): its outputs and the values
/// of the tensors asked for.
pub struct FloatRuns<'a> {
    float: &'a Graph,
    inputs: &'a [Vec<f32>],
    labels: Option<&'a [usize]>,
    per_input: Vec<FloatSide>,
}

impl<'a> FloatRuns<'a> {
    /// Runs `float` on every input (in parallel), keeping the outputs and the tensors `keep`.
    pub fn new(
        float: &'a Graph,
        inputs: &'a [Vec<f32>],
        labels: Option<&'a [usize]>,
        keep: &[TensorId],
    ) -> Result<Self, ExecError> {
        if let Some(y) = labels {
            check_labels(y, inputs.len(), classes(float)).map_err(ExecError::Input)?;
        }
        let per_input = inputs.par_iter().map(|x| float_side(float, float, x, keep)).collect::<Result<_, _>>()?;
        Ok(FloatRuns { float, inputs, labels, per_input })
    }

    /// The float model's accuracy against the labels, when given.
    pub fn float_accuracy(&self) -> Option<LabelScores> {
        let fo: Vec<f32> = self.per_input.iter().flat_map(|f| f.outputs.iter().copied()).collect();
        self.labels.map(|y| LabelScores::of(&fo, classes(self.float), y))
    }

    /// Evaluates `quantized` (quantized from this float graph) as [`evaluate_with`] does,
    /// scoring per layer only the layers named in `layers` (whose float outputs were kept).
    pub fn evaluate(&self, quantized: &Graph, arith: Arithmetic, layers: &[&str]) -> Result<EvalReport, ExecError> {
        self.evaluate_after(quantized, arith, layers, None)
    }

    /// [`FloatRuns::evaluate`], starting each image's integer run from `prefix` (another
    /// quantized graph of this float model and its runs, one per image, as
    /// [`Executor::run`] returned them) where the two graphs agree: the layers before their
    /// first difference are taken from the prefix runs, not recomputed. The result is the
    /// same as without a prefix.
    pub fn evaluate_after(
        &self,
        quantized: &Graph,
        arith: Arithmetic,
        layers: &[&str],
        prefix: Option<(&Graph, &[Vec<Option<Values>>])>,
    ) -> Result<EvalReport, ExecError> {
        let exec = Executor::new(quantized, arith)?;
        let scored: Vec<(LayerId, TensorId)> = scored_layers(quantized, self.float.tensors.len())
            .into_iter()
            .filter(|&(l, _)| layers.contains(&quantized.layers[l.0].name.as_str()))
            .collect();
        // Where the prefix graph stops agreeing, and the tensors its layers before that wrote.
        let reuse = prefix.and_then(|(g, runs)| {
            let start = crate::kernels::first_difference(g, quantized)?;
            (runs.len() == self.inputs.len() && g.tensors.len() == quantized.tensors.len() && start > 0).then(|| {
                let mut known: Vec<TensorId> = quantized.inputs.clone();
                known.extend(quantized.layers[..start].iter().flat_map(|l| l.outputs.iter().copied()));
                (start, known, runs)
            })
        });
        let per: Vec<Scored> = self
            .inputs
            .par_iter()
            .zip(&self.per_input)
            .enumerate()
            .map(|(i, (x, f))| {
                let qv = match &reuse {
                    Some((start, known, runs)) => {
                        let mut vals = vec![None; quantized.tensors.len()];
                        for &t in known {
                            vals[t.0] = runs[i][t.0].clone();
                        }
                        exec.run_from(*start, vals)?
                    }
                    None => exec.run(&[Values::F32(x.clone())])?,
                };
                score_input(quantized, qv, f, &scored)
            })
            .collect::<Result<_, _>>()?;
        let fo: Vec<&[f32]> = self.per_input.iter().map(|f| f.outputs.as_slice()).collect();
        Ok(aggregate(quantized, &scored, &fo, &per, classes(self.float), self.labels))
    }

    /// Runs `quantized` on every image (in parallel), keeping every tensor, as a prefix for
    /// [`FloatRuns::evaluate_after`].
    pub fn integer_runs(&self, quantized: &Graph, arith: Arithmetic) -> Result<Vec<Vec<Option<Values>>>, ExecError> {
        let exec = Executor::new(quantized, arith)?;
        self.inputs.par_iter().map(|x| exec.run(&[Values::F32(x.clone())])).collect()
    }
}
