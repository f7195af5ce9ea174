//! Functional results of a sweep (`--functional`): output SQNR and top-1 agreement of each
//! quantized network against its float execution, computed once per [`FunctionalKey`] and
//! joined into every design point with that key.
//!
//! A key is everything that changes the integers the network computes: the network, each
//! layer's weight and activation widths (a [`WidthPlan`]), the quantizer's options, and the accelerator's integer
//! arithmetic ([`Arithmetic`]: accumulator width, overflow behaviour, requantization
//! rounding, as [`crate::accuracy::arithmetic_of`] reads them from the description). Array
//! shape, buffers, DRAM, clock and energies change the cost, not the numbers, so points
//! that differ only in them share one evaluation.
//!
//! Per network, the float graph is prepared and calibrated once (calibration does not
//! depend on the widths); per key, it is quantized ([`quantize_graph`], the defaults of
//! `accelsim quantize`: min/max thresholds, symmetric weights, no CLE or bias correction)
//! and evaluated ([`evaluate_with`]) on the key's arithmetic. Built-in networks get the
//! quantizer's seeded synthetic weights and seeded synthetic inputs: their SQNR measures the
//! quantization noise of a randomly initialised network, not task accuracy.
//!
//! Keys are evaluated in parallel (rayon); each evaluation is deterministic, so results do
//! not depend on the thread count.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use super::plan::{Functional, Point};
use crate::hw::HwDesc;
use ndarray::ArrayD;

use crate::import::npy::read_npy_f32;
use crate::ir::{Graph, TensorData, TensorKind, WeightSource};
use crate::kernels::Arithmetic;
use crate::quant::calib::{calibrate, Calibration};
use crate::quant::eval::{check_labels, evaluate_with, logits_layer, LabelScores};
use crate::quant::ptq::{quantize_graph, PtqConfig};
use crate::quant::synthetic;
use crate::quant::WidthPlan;

/// Synthetic calibration images of a built-in network (as `accelsim quantize` uses).
pub const SYNTHETIC_CALIB: usize = 8;
/// Synthetic evaluation images of a built-in network (a different seed from calibration).
pub const SYNTHETIC_EVAL: usize = 8;

/// What determines the integers a design point computes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionalKey {
    /// Index into the sweep's networks.
    pub model: usize,
    /// Each layer's widths.
    pub widths: WidthPlan,
    /// Per-channel weight scales.
    pub per_channel: bool,
    /// The accelerator's integer datapath.
    pub arith: Arithmetic,
}

impl FunctionalKey {
    /// The key of point `p` (of network `g`) on the accelerator `hw`.
    pub fn of(f: &Functional, p: &Point, g: &Graph, hw: &HwDesc) -> FunctionalKey {
        FunctionalKey {
            model: p.model,
            widths: WidthPlan::uniform(g, p.precision()),
            per_channel: f.per_channel,
            arith: crate::accuracy::arithmetic_of(hw),
        }
    }
}

/// The functional result of one key.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionalResult {
    /// Output SQNR (dB) of the integer run against the float run, over all inputs.
    pub sqnr_db: f64,
    /// SQNR (dB) at the input of the network's final softmax (the logits), or the output's
    /// when the network does not end in a softmax. A random-weight network's softmax output
    /// is nearly flat (about 1/1000 per class) and quantizes to a few codes, so its output
    /// SQNR says little; the logits carry the quantization noise.
    pub logits_sqnr_db: f64,
    /// Fraction of inputs whose arg-max agree with the float run.
    pub top1_agreement: f64,
    /// Accuracy against the evaluation images' labels, when given.
    pub accuracy: Option<LabelScores>,
    /// Which inputs were used, e.g. `synthetic(8 calib + 8 eval; seed 24301)` or
    /// `calib=a.npy(100) eval=b.npy(50)`.
    pub inputs: String,
}

/// A network ready for evaluation: float graph with weights, statistics, evaluation inputs.
struct Prepared {
    float: Graph,
    calibration: Calibration,
    eval: Vec<Vec<f32>>,
    labels: Option<Vec<usize>>,
    inputs: String,
}

/// An image file read once per sweep (or why it could not be).
type Images = Option<(String, Result<ArrayD<f32>, String>)>;

fn read_images(path: &Option<String>) -> Images {
    path.as_ref().map(|p| {
        let a = read_npy_f32(std::path::Path::new(p)).map_err(|e| format!("cannot read the images: {e}"));
        let a =
            a.and_then(
                |a| if a.shape().first().is_some_and(|&n| n > 0) { Ok(a) } else { Err(format!("{p}: no images")) },
            );
        (p.clone(), a)
    })
}

fn images_for(file: &(String, Result<ArrayD<f32>, String>), shape: &[usize]) -> Result<Vec<Vec<f32>>, String> {
    let a = file.1.as_ref().map_err(Clone::clone)?;
    crate::kernels::io::images(a.view(), shape)
        .ok_or_else(|| format!("{}: images of shape {:?} do not fit the network input {:?}", file.0, a.shape(), shape))
}

/// Labels read once per sweep (or why they could not be).
type Labels = Option<(String, Result<Vec<usize>, String>)>;

fn read_labels(path: &Option<String>) -> Labels {
    path.as_ref().map(|p| {
        let y = crate::import::npy::read_npy_labels(std::path::Path::new(p)).map_err(|e| e.to_string());
        (p.clone(), y)
    })
}

/// Checks before a sweep starts that the labels of `f` (if any) can be read and count one
/// per evaluation image; the error names both files.
pub fn check_label_file(f: &Functional) -> Result<(), String> {
    let (Some(labels), Some(eval)) = (&f.labels, &f.eval) else { return Ok(()) };
    let y = crate::import::npy::read_npy_labels(std::path::Path::new(labels)).map_err(|e| e.to_string())?;
    let x = read_npy_f32(std::path::Path::new(eval)).map_err(|e| e.to_string())?;
    check_labels(&y, x.shape().first().copied().unwrap_or(0), usize::MAX)
        .map_err(|e| format!("--labels {labels}: {e} (--eval {eval})"))
}

fn prepare(g: &Graph, seed: u64, calib: &Images, eval: &Images, labels: &Labels) -> Result<Prepared, String> {
    crate::kernels::check_size(g).map_err(|e| e.to_string())?;
    let mut g = g.clone();
    let synthetic_weights = matches!(g.weights, WeightSource::Synthetic { .. });
    if synthetic_weights {
        synthetic::materialize(&mut g, seed);
    }
    if g.tensors.iter().any(|t| t.kind == TensorKind::Weight && !matches!(t.data, Some(TensorData::F32(_)))) {
        return Err("functional mode quantizes float models; this network's weights are not float32".into());
    }
    crate::quant::check_finite_weights(&g)?;
    let [input] = g.inputs[..] else {
        return Err(format!("functional mode takes networks with one input, this one has {}", g.inputs.len()));
    };
    let shape = g.tensor(input).shape.clone();
    let len = g.tensor(input).elements() as usize;
    let (cal_in, cal_desc) = match calib {
        Some(f) => {
            let x = images_for(f, &shape)?;
            let d = format!("calib={}({})", f.0, x.len());
            (x, d)
        }
        None if synthetic_weights => {
            (synthetic::uniform_inputs(SYNTHETIC_CALIB, len, seed), format!("calib=synthetic({SYNTHETIC_CALIB})"))
        }
        None => return Err("functional mode needs calibration images for a float model file (--calib FILE.npy)".into()),
    };
    let (eval, eval_desc) = match (eval, calib) {
        (Some(f), _) => {
            let x = images_for(f, &shape)?;
            let d = format!("eval={}({})", f.0, x.len());
            (x, d)
        }
        (None, _) if synthetic_weights => (
            synthetic::uniform_inputs(SYNTHETIC_EVAL, len, seed.wrapping_add(1)),
            format!("eval=synthetic({SYNTHETIC_EVAL})"),
        ),
        (None, _) => (cal_in.clone(), format!("eval=calib({})", cal_in.len())),
    };
    let labels_desc = labels.as_ref().map_or(String::new(), |(file, _)| format!(" labels={file}"));
    let labels = match labels {
        Some((file, y)) => {
            let y = y.as_ref().map_err(Clone::clone)?;
            let classes = crate::quant::eval::classes(&g);
            check_labels(y, eval.len(), classes).map_err(|e| format!("labels {file}: {e}"))?;
            Some(y.clone())
        }
        None => None,
    };
    let calibration = calibrate(&g, &cal_in).map_err(|e| format!("calibration run failed: {e}"))?;
    let seed_desc = if synthetic_weights { format!(" seed={seed}") } else { String::new() };
    Ok(Prepared {
        float: g,
        calibration,
        eval,
        labels,
        inputs: format!("{cal_desc} {eval_desc}{seed_desc}{labels_desc}"),
    })
}

fn evaluate_key(p: &Prepared, k: &FunctionalKey) -> Result<FunctionalResult, String> {
    let cfg = PtqConfig { per_channel: k.per_channel, ..PtqConfig::min_max(k.widths.clone()) };
    let q = quantize_graph(&p.float, &p.calibration, &cfg).map_err(|e| format!("quantization failed: {e}"))?;
    let r = evaluate_with(&p.float, &p.float, &q, &p.eval, p.labels.as_deref(), k.arith)
        .map_err(|e| format!("functional evaluation failed: {e}"))?;
    let logits_sqnr_db = logits_layer(&q)
        .and_then(|name| r.layers.iter().find(|l| l.layer == name))
        .map_or(r.output_sqnr_db, |l| l.sqnr_db);
    Ok(FunctionalResult {
        sqnr_db: r.output_sqnr_db,
        logits_sqnr_db,
        top1_agreement: r.top1_agreement,
        accuracy: r.accuracy,
        inputs: p.inputs.clone(),
    })
}

/// The distinct keys of `keys`, in order of first appearance.
pub fn distinct(keys: &[Option<FunctionalKey>]) -> Vec<FunctionalKey> {
    let mut seen = HashSet::new();
    keys.iter().flatten().filter(|k| seen.insert(*k)).cloned().collect()
}

/// Evaluates every key once, in parallel. `models[i]` is network `i` as loaded for the
/// sweep (`None` if no point uses it); `seed` the seed of synthetic weights.
pub fn evaluate_keys(
    f: &Functional,
    models: &[Option<Result<Graph, String>>],
    seed: u64,
    keys: &[FunctionalKey],
) -> HashMap<FunctionalKey, Result<FunctionalResult, String>> {
    let (calib, eval, labels) = (read_images(&f.calib), read_images(&f.eval), read_labels(&f.labels));
    let mut used = vec![false; models.len()];
    for k in keys {
        used[k.model] = true;
    }
    let prepared: Vec<Option<Result<Prepared, String>>> = models
        .par_iter()
        .zip(used)
        .map(|(m, u)| {
            u.then(|| match m {
                Some(Ok(g)) => prepare(g, seed, &calib, &eval, &labels),
                Some(Err(e)) => Err(e.clone()),
                None => Err("internal: network not loaded".into()),
            })
        })
        .collect();
    keys.par_iter()
        .map(|k| {
            let r = match &prepared[k.model] {
                Some(Ok(p)) => evaluate_key(p, k),
                Some(Err(e)) => Err(e.clone()),
                None => Err("internal: network not prepared".into()),
            };
            (k.clone(), r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Overflow;

    fn key(model: usize, acc: u32) -> Option<FunctionalKey> {
        let arith = Arithmetic { acc_bits: acc, overflow: Overflow::Wrap, ..Default::default() };
        let g = crate::import::load_model("mnv1", &Default::default()).expect("mnv1");
        let widths = WidthPlan::uniform(&g, crate::quant::Precision { weight_bits: 8, activation_bits: 8 });
        Some(FunctionalKey { model, widths, per_channel: true, arith })
    }

    #[test]
    fn distinct_keys_keep_first_appearance_order() {
        let ks = [key(1, 32), None, key(0, 32), key(1, 32), key(1, 24), key(0, 32)];
        let d = distinct(&ks);
        assert_eq!(d, vec![key(1, 32).unwrap(), key(0, 32).unwrap(), key(1, 24).unwrap()]);
    }
}
