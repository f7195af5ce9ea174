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
    // Each channel's values in order (the channel is the last axis), one row at a time.
    let mut sum = vec![0f64; c];
    for row in v.chunks(c) {
        for (s, &x) in sum.iter_mut().zip(row) {
            *s += f64::from(x);
        }
    }
    // Extremes in 16 lanes (vectorized), then across them. A NaN is skipped as `f32::min`
    // skips it; only which zero a range ending at zero keeps (-0.0 or 0.0) may depend on
    // the order, and the thresholds do not (`clip::affine_params` widens the range to 0).
    let (mut mins, mut maxs) = ([f32::INFINITY; 16], [f32::NEG_INFINITY; 16]);
    let mut rows = v.chunks_exact(16);
    for r in &mut rows {
        for ((lo, hi), &x) in mins.iter_mut().zip(maxs.iter_mut()).zip(r) {
            *lo = lo.min(x);
            *hi = hi.max(x);
        }
    }
    for ((lo, hi), &x) in mins.iter_mut().zip(maxs.iter_mut()).zip(rows.remainder()) {
        *lo = lo.min(x);
        *hi = hi.max(x);
    }
    let min = mins.iter().copied().fold(f32::INFINITY, f32::min);
    let max = maxs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let stride = v.len().div_ceil(SAMPLES_PER_INPUT).max(1);
    // An odd stride that is not a multiple of the channel count visits all channels.
    let stride = if stride > 1 && stride % c == 0 { stride + 1 } else { stride };
    Acc { min, max, samples: v.iter().step_by(stride).copied().collect(), sum, rows: (v.len() / c) as u64 }
}

/// Runs the float graph on every input (in parallel) and gathers activation statistics.
pub fn calibrate(g: &Graph, inputs: &[Vec<f32>]) -> Result<Calibration, ExecError> {
    let mut per_input: Vec<Vec<Option<Acc>>> = inputs
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
        for run in &mut per_input {
            let Some(a) = run[i].take() else { continue };
            match &mut acc {
                None => acc = Some(a),
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
