//! Mixed-precision search (`accelsim search`): per-layer (weight, activation) widths for one
//! accelerator, searched for the front of cost (the accelerator's own energy, latency or
//! energy-delay product) against accuracy (top-1 against labels, else output SQNR).
//!
//! How (a greedy bit-lowering path, the discrete form of a Lagrangian relaxation as in
//! HAWQ-style allocation, guided by measured sensitivities instead of Hessians):
//! 1. Width pairs: the `(w, a)` pairs asked for that some mode of the accelerator runs.
//! 2. Cost table: each layer's cost at each pair, from one pipeline run per uniform pair (a
//!    layer's cost depends on its own widths except for its output width and fusion; the
//!    exact figures come in step 4).
//! 3. Sensitivity: each layer with weights alone at each pair, the rest at the reference
//!    pair, scored bit-exactly; its relative output noise power `10^(-SQNR/10)` minus the
//!    reference's is the noise the layer adds at that pair (noise powers add).
//! 4. Path: from every layer at the reference pair, repeatedly take the move (one layer to a
//!    cheaper pair) that saves the most table cost per unit of added noise (free moves
//!    first); every state on the path is a candidate, re-costed exactly by the pipeline.
//! 5. Verification: up to `max_verified` path states spread along the path, and every
//!    uniform pair, are quantized and evaluated bit-exactly on the accelerator's arithmetic
//!    and costed on the quantized graph itself; only verified points make the front.
//!
//! Candidates: `L x (P - 1)` sensitivity evaluations, at most `L x (P - 1)` path states
//! costed, `max_verified + P` full evaluations (L layers with weights, P pairs).

use rayon::prelude::*;

use crate::hw::HwDesc;
use crate::ir::{Graph, LayerId};
use crate::kernels::{Arithmetic, ExecError};
use crate::map::tiling::{Objective, TilingMemo};
use crate::quant::calib::Calibration;
use crate::quant::eval::{FloatRuns, LabelScores};
use crate::quant::ptq::{quantize_graph, PtqConfig};
use crate::quant::sensitivity::tested_layers;
use crate::quant::widths::{LayerRequest, WidthPlan};
use crate::quant::Precision;
use crate::report::RunReport;

/// What a search takes beyond the model, data and accelerator.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// The width pairs each layer may take (filtered to those the accelerator runs).
    pub pairs: Vec<Precision>,
    /// The pair every layer starts from and the sensitivities are measured against.
    pub reference: Precision,
    /// What the cost is.
    pub objective: Objective,
    /// How many path states are verified (besides the uniform pairs).
    pub max_verified: usize,
    /// The quantizer's options; its widths are replaced per point.
    pub ptq: PtqConfig,
}

/// One verified point.
#[derive(Debug, Clone)]
pub struct SearchPoint {
    /// The widths.
    pub plan: WidthPlan,
    /// `Some` for a uniform-width point.
    pub uniform: Option<Precision>,
    /// The pipeline's report of the quantized graph on the accelerator.
    pub cost: RunReport,
    /// Output SQNR (dB) against the float model.
    pub sqnr_db: f64,
    /// Top-1 agreement with the float model.
    pub top1_agreement: f64,
    /// Accuracy against the labels, when given.
    pub accuracy: Option<LabelScores>,
}

impl SearchPoint {
    /// The cost the objective minimizes: pJ, seconds or pJ x s.
    pub fn cost_of(&self, objective: Objective) -> f64 {
        let (e, t) = (self.cost.totals.energy.total().get(), self.cost.totals.latency.0 + self.cost.totals.overhead.0);
        match objective {
            Objective::Energy => e,
            Objective::Latency => t,
            Objective::Edp => e * t,
        }
    }

    /// The accuracy the front maximizes: top-1 against the labels, else output SQNR.
    pub fn quality(&self) -> f64 {
        self.accuracy.map_or(self.sqnr_db, |a| a.top1)
    }
}

/// What a search found.
#[derive(Debug, Clone)]
pub struct SearchResult {
    /// Every verified point: the uniform pairs first, then the path states verified.
    pub points: Vec<SearchPoint>,
    /// The width pairs searched (those the accelerator runs).
    pub pairs: Vec<Precision>,
    /// Sensitivity evaluations run.
    pub sensitivity_evals: usize,
    /// Path states (candidates) costed by the pipeline.
    pub candidates_costed: usize,
    /// The float model's accuracy against the labels.
    pub float_accuracy: Option<LabelScores>,
}

/// Why a search failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SearchError {
    /// No pair asked for runs on the accelerator, or the reference is not among them.
    #[error("{0}")]
    Pairs(String),
    /// The model has no layer with weights.
    #[error("{0}: no layer with weights to search")]
    NoLayers(String),
    /// Quantizing, costing or widths failed.
    #[error("{0}")]
    Point(String),
    /// A bit-exact run failed.
    #[error("{0}")]
    Exec(#[from] ExecError),
}

/// The pairs of `asked` that a mode of `hw` runs, in the order given.
pub fn supported_pairs(hw: &HwDesc, asked: &[Precision]) -> Vec<Precision> {
    asked
        .iter()
        .copied()
        .filter(|p| hw.mode_for(u32::from(p.weight_bits), u32::from(p.activation_bits)).is_some())
        .collect()
}

/// The plan with each tested layer at its pair (`state[i]` indexes `pairs`), every other
/// layer at `reference`.
pub fn plan_of(
    g: &Graph,
    layers: &[LayerId],
    pairs: &[Precision],
    state: &[usize],
    reference: Precision,
) -> Result<WidthPlan, SearchError> {
    let requests: Vec<LayerRequest> = layers
        .iter()
        .zip(state)
        .map(|(l, &s)| LayerRequest {
            source: "search".into(),
            layer: g.layers[l.0].name.clone(),
            weight: Some(pairs[s].weight_bits),
            activation: Some(pairs[s].activation_bits),
        })
        .collect();
    WidthPlan::resolve(g, reference, &requests).map_err(|e| SearchError::Point(e.to_string()))
}

/// The pipeline's figures of `g` with `plan`'s widths (biases at the accumulator's width).
fn cost_plan(
    g: &Graph,
    plan: &WidthPlan,
    hw: &HwDesc,
    cfg: &SearchConfig,
    memo: &mut TilingMemo,
) -> Result<f64, SearchError> {
    let mut w = g.clone();
    crate::quant::assign_widths(&mut w, plan, hw.accumulator.bits.min(32) as u8);
    let r = crate::pipeline::run_memo(&w, hw, cfg.objective, memo).map_err(|e| SearchError::Point(e.to_string()))?;
    let p =
        SearchPoint { plan: plan.clone(), uniform: None, cost: r, sqnr_db: 0.0, top1_agreement: 0.0, accuracy: None };
    Ok(p.cost_of(cfg.objective))
}

/// Relative output noise power of an SQNR in dB.
fn noise(sqnr_db: f64) -> f64 {
    if sqnr_db.is_finite() {
        10f64.powf(-sqnr_db / 10.0)
    } else if sqnr_db > 0.0 {
        0.0
    } else {
        1.0
    }
}

/// The greedy path: states (pair index per tested layer) from all-reference down, each one
/// move cheaper in `table` than the one before, taking the best saving per added noise.
pub fn greedy_path(table: &[Vec<f64>], added: &[Vec<f64>], start: usize) -> Vec<Vec<usize>> {
    let mut state = vec![start; table.len()];
    let mut path = vec![state.clone()];
    loop {
        let mut best: Option<(f64, usize, usize)> = None;
        for (l, row) in table.iter().enumerate() {
            let (c0, n0) = (row[state[l]], added[l][state[l]]);
            for (p, &c) in row.iter().enumerate() {
                let (dc, dn) = (c0 - c, added[l][p] - n0);
                if dc <= 0.0 {
                    continue;
                }
                // Free moves (no added noise) rank by saving alone, ahead of every other.
                let score = if dn <= 0.0 { f64::INFINITY } else { dc / dn };
                let better = match best {
                    None => true,
                    Some((s, bl, bp)) => score > s || (score == s && dc > table[bl][state[bl]] - table[bl][bp]),
                };
                if better {
                    best = Some((score, l, p));
                }
            }
        }
        let Some((_, l, p)) = best else { return path };
        state[l] = p;
        path.push(state.clone());
    }
}

/// Up to `n` indices of `0..len` spread evenly, always with the last.
fn spread(len: usize, n: usize) -> Vec<usize> {
    if len <= n {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..n).map(|i| i * (len - 1) / (n - 1).max(1)).collect();
    v.dedup();
    v
}

/// Runs the search on `float` (calibrated by `cal`), scoring on `inputs` (and `labels`).
pub fn search(
    float: &Graph,
    cal: &Calibration,
    inputs: &[Vec<f32>],
    labels: Option<&[usize]>,
    hw: &HwDesc,
    cfg: &SearchConfig,
) -> Result<SearchResult, SearchError> {
    let pairs = supported_pairs(hw, &cfg.pairs);
    let Some(start) = pairs.iter().position(|&p| p == cfg.reference) else {
        return Err(SearchError::Pairs(format!(
            "the reference w{}a{} is not among the widths {} runs of those asked",
            cfg.reference.weight_bits, cfg.reference.activation_bits, hw.name
        )));
    };
    let layers = tested_layers(float);
    if layers.is_empty() {
        return Err(SearchError::NoLayers(float.name.clone()));
    }
    let arith: Arithmetic = crate::accuracy::arithmetic_of(hw);
    let mut memo = TilingMemo::default();
    // 2. Cost table: one pipeline run per uniform pair, each layer's row.
    let mut table = vec![vec![0.0; pairs.len()]; layers.len()];
    for (pi, &p) in pairs.iter().enumerate() {
        let mut w = float.clone();
        crate::quant::assign_widths(&mut w, &WidthPlan::uniform(float, p), hw.accumulator.bits.min(32) as u8);
        let r = crate::pipeline::run_memo(&w, hw, cfg.objective, &mut memo)
            .map_err(|e| SearchError::Point(e.to_string()))?;
        for (li, l) in layers.iter().enumerate() {
            let row = &r.layers[l.0];
            let (e, t) = (row.energy.total().get(), row.latency.0);
            table[li][pi] = match cfg.objective {
                Objective::Energy => e,
                Objective::Latency => t,
                // Per-layer EDP does not add up; energy x the layer's share of time does
                // not either: rank by energy x latency of the layer as a proxy.
                Objective::Edp => e * t,
            };
        }
    }
    // 3. Sensitivity of each layer at each pair, against the reference.
    let runs = FloatRuns::new(float, inputs, labels, &[])?;
    let quantize = |plan: WidthPlan| {
        quantize_graph(float, cal, &PtqConfig { widths: plan, ..cfg.ptq.clone() })
            .map_err(|e| SearchError::Point(e.to_string()))
    };
    let reference_q = quantize(WidthPlan::uniform(float, cfg.reference))?;
    let reference_noise = noise(runs.evaluate(&reference_q, arith, &[])?.output_sqnr_db);
    let prefix_runs = runs.integer_runs(&reference_q, arith)?;
    let jobs: Vec<(usize, usize)> =
        (0..layers.len()).flat_map(|l| (0..pairs.len()).filter(move |&p| p != start).map(move |p| (l, p))).collect();
    let measured = jobs
        .par_iter()
        .map(|&(li, pi)| {
            let mut state = vec![start; layers.len()];
            state[li] = pi;
            let q = quantize(plan_of(float, &layers, &pairs, &state, cfg.reference)?)?;
            let r = runs.evaluate_after(&q, arith, &[], Some((&reference_q, &prefix_runs)))?;
            Ok(noise(r.output_sqnr_db) - reference_noise)
        })
        .collect::<Result<Vec<f64>, SearchError>>()?;
    let mut added = vec![vec![0.0; pairs.len()]; layers.len()];
    for (&(li, pi), n) in jobs.iter().zip(measured) {
        added[li][pi] = n;
    }
    // 4. The path, re-costed exactly.
    let path = greedy_path(&table, &added, start);
    let candidates_costed = path.len();
    let mut exact = Vec::with_capacity(path.len());
    for s in &path {
        let plan = plan_of(float, &layers, &pairs, s, cfg.reference)?;
        exact.push((cost_plan(float, &plan, hw, cfg, &mut memo)?, plan));
    }
    // Keep the states cheaper than every one before them on the path (the estimated noise
    // only grows along it), then verify a spread of those.
    let mut kept: Vec<usize> = Vec::new();
    for (i, (c, _)) in exact.iter().enumerate() {
        if kept.last().is_none_or(|&k| *c < exact[k].0) {
            kept.push(i);
        }
    }
    let chosen: Vec<WidthPlan> =
        spread(kept.len(), cfg.max_verified).into_iter().map(|i| exact[kept[i]].1.clone()).collect();
    // 5. Verification: uniform pairs and chosen states, quantized, run and costed.
    let mut todo: Vec<(WidthPlan, Option<Precision>)> =
        pairs.iter().map(|&p| (WidthPlan::uniform(float, p), Some(p))).collect();
    todo.extend(chosen.into_iter().map(|p| (p, None)));
    let mut points = Vec::with_capacity(todo.len());
    for (plan, uniform) in todo {
        let q = quantize(plan.clone())?;
        let r = runs.evaluate(&q, arith, &[])?;
        let cost = crate::pipeline::run_memo(&q, hw, cfg.objective, &mut memo)
            .map_err(|e| SearchError::Point(e.to_string()))?;
        points.push(SearchPoint {
            plan,
            uniform,
            cost,
            sqnr_db: r.output_sqnr_db,
            top1_agreement: r.top1_agreement,
            accuracy: r.accuracy,
        });
    }
    Ok(SearchResult {
        points,
        pairs,
        sensitivity_evals: jobs.len(),
        candidates_costed,
        float_accuracy: runs.float_accuracy(),
    })
}

/// Which points are on the front: no other point is at most as costly and at least as
/// accurate with one of the two strictly better.
pub fn front(points: &[(f64, f64)]) -> Vec<bool> {
    points.iter().map(|&(c, q)| !points.iter().any(|&(c2, q2)| c2 <= c && q2 >= q && (c2 < c || q2 > q))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_takes_free_moves_first_then_the_best_saving_per_noise() {
        // Two layers, pairs [ref, cheap]: layer 0 saves 10 for 1 noise, layer 1 saves 4 for
        // no noise, then layer 0.
        let table = vec![vec![20.0, 10.0], vec![8.0, 4.0]];
        let added = vec![vec![0.0, 1.0], vec![0.0, 0.0]];
        assert_eq!(greedy_path(&table, &added, 0), vec![vec![0, 0], vec![0, 1], vec![1, 1]]);
        // A move that saves nothing is never taken.
        let flat = vec![vec![5.0, 5.0]];
        assert_eq!(greedy_path(&flat, &[vec![0.0, 0.0]], 0), vec![vec![0]]);
    }

    #[test]
    fn front_keeps_the_non_dominated() {
        let pts = [(1.0, 0.5), (2.0, 0.9), (2.0, 0.8), (3.0, 0.9), (0.5, 0.1)];
        assert_eq!(front(&pts), vec![true, true, false, false, true]);
    }

    #[test]
    fn spread_keeps_ends() {
        assert_eq!(spread(3, 5), vec![0, 1, 2]);
        assert_eq!(spread(10, 4), vec![0, 3, 6, 9]);
    }
}
