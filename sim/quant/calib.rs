//! Calibration: statistics of every activation tensor of a float graph over a set of inputs
//! (exact min and max, a strided subsample for percentile and MSE thresholds, and the
//! per-channel mean that empirical bias correction needs).

use rayon::prelude::*;

use crate::ir::{Graph, TensorKind};
use crate::kernels::{run_float, ExecError, Values};

/// At most this many values of a tensor are kept per input for the threshold searches.
pub const SAMPLES_PER_INPUT: usize = 8192;

/// Statistics of one activation tensor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TensorStats {
    /// Smallest value seen.
    pub min: f32,
    /// Largest value seen.
    pub max: f32,
    /// A strided subsample of the values.
    pub samples: Vec<f32>,
    /// Mean of each channel (last axis).
    pub channel_mean: Vec<f64>,
}

/// Statistics of every activation tensor, indexed by tensor id (`None` for constants).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Calibration {
    /// Per tensor.
    pub tensors: Vec<Option<TensorStats>>,
}

struct Acc {
    min: f32,
    max: f32,
    samples: Vec<f32>,
    sum: Vec<f64>,
    rows: u64,
}

fn observe(v: &[f32], channels: usize) -> Acc {
    let c = channels.max(1);
    let mut sum = vec![0f64; c];
    for (i, &x) in v.iter().enumerate() {
        sum[i % c] += x as f64;
    }
    let stride = v.len().div_ceil(SAMPLES_PER_INPUT).max(1);
    // An odd stride that is not a multiple of the channel count visits all channels.
    let stride = if stride > 1 && stride % c == 0 { stride + 1 } else { stride };
    Acc {
        min: v.iter().copied().fold(f32::INFINITY, f32::min),
        max: v.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        samples: v.iter().step_by(stride).copied().collect(),
        sum,
        rows: (v.len() / c) as u64,
    }
}

/// Runs the float graph on every input (in parallel) and gathers activation statistics.
pub fn calibrate(g: &Graph, inputs: &[Vec<f32>]) -> Result<Calibration, ExecError> {
    let per_input: Vec<Vec<Option<Acc>>> = inputs
        .par_iter()
        .map(|x| {
            let vals = run_float(g, std::slice::from_ref(x))?;
            Ok(g.tensors
                .iter()
                .zip(vals)
                .map(|(t, v)| match (t.kind, v) {
                    (TensorKind::Activation, Some(Values::F32(v))) => {
                        Some(observe(&v, t.shape.last().copied().unwrap_or(1)))
                    }
                    _ => None,
                })
                .collect())
        })
        .collect::<Result<_, ExecError>>()?;
    let mut tensors: Vec<Option<TensorStats>> = vec![None; g.tensors.len()];
    for (i, slot) in tensors.iter_mut().enumerate() {
        let mut acc: Option<Acc> = None;
        for run in &per_input {
            let Some(a) = &run[i] else { continue };
            match &mut acc {
                None => {
                    acc = Some(Acc {
                        min: a.min,
                        max: a.max,
                        samples: a.samples.clone(),
                        sum: a.sum.clone(),
                        rows: a.rows,
                    })
                }
                Some(t) => {
                    t.min = t.min.min(a.min);
                    t.max = t.max.max(a.max);
                    t.samples.extend_from_slice(&a.samples);
                    t.sum.iter_mut().zip(&a.sum).for_each(|(s, x)| *s += x);
                    t.rows += a.rows;
                }
            }
        }
        *slot = acc.map(|a| TensorStats {
            min: a.min,
            max: a.max,
            samples: a.samples,
            channel_mean: a.sum.iter().map(|s| s / a.rows.max(1) as f64).collect(),
        });
    }
    Ok(Calibration { tensors })
}
