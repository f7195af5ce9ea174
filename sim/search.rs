//! Mixed-precision search (`accelsim search`): per-layer widths for one accelerator,
//! searched for the front of cost (the accelerator's own energy, latency or energy-delay
//! product) against accuracy (top-1 against labels, else the SQNR of the logits: the input of
//! a final softmax, or the output).
//!
//! What is searched ([`Space`]): every layer with weights has a weight width, and every
//! group of activation tensors stored together has a width -- the tensors a layer reads
//! together and those a layer passes through without rescaling (RESHAPE, pooling, PAD) are
//! one group, as [`WidthPlan::activation_widths`] stores them at one width. So the
//! activations of layers without weights (pooling, MEAN, ADD, the classifier's RESHAPE) are
//! searched like any others. A state is valid when a mode of the accelerator runs every layer
//! with weights at its (weight, input activation) pair.
//!
//! How (greedy paths, the discrete form of a Lagrangian relaxation as in HAWQ-style
//! allocation, guided by measured sensitivities instead of Hessians):
//! 1. Cost table: each layer's cost at each pair, from one pipeline run per uniform pair (a
//!    layer's cost depends on its own widths except for its output width and fusion; the
//!    exact figures come in step 4).
//! 2. Sensitivity: each unit (a layer's weights, an activation group) alone at each of its
//!    widths, the rest at the reference pair, scored bit-exactly; its relative noise power
//!    `10^(-SQNR/10)` minus the reference's is the noise the unit adds at that width (noise
//!    powers add).
//! 3. Paths: from the reference state and from every uniform pair's state, a descending path
//!    (repeatedly the valid move, one unit to another width, that saves the most table cost
//!    per unit of added noise; free moves first) and from every uniform state an ascending
//!    one (the move that removes the most noise per unit of added cost): the descents explore
//!    below each uniform point, the ascents buy accuracy back above the cheap ones.
//! 4. Every distinct state on the paths is a candidate, costed exactly by the pipeline.
//! 5. Verification: the candidates on the front of (exact cost, estimated noise), up to
//!    `max_verified` spread along it, and every uniform pair are quantized and evaluated
//!    bit-exactly on the accelerator's arithmetic and costed on the quantized graph itself;
//!    only verified points make the front.
//!
//! Work: `sum over units of (widths - 1)` sensitivity evaluations, at most
//! `(2P + 1) x sum(widths - 1)` candidates costed, `max_verified + P` full evaluations
//! (P pairs).

use std::collections::HashSet;

use rayon::prelude::*;

use crate::hw::HwDesc;
use crate::ir::{Graph, LayerId, TensorKind};
use crate::kernels::{Arithmetic, ExecError};
use crate::map::tiling::{Objective, TilingMemo};
use crate::quant::calib::Calibration;
use crate::quant::eval::{logits_layer, EvalReport, FloatRuns, LabelScores};
use crate::quant::ptq::{quantize_graph, PtqConfig};
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
    /// SQNR (dB) of the logits (the input of a final softmax; else the output).
    pub logits_sqnr_db: f64,
    /// Top-1 agreement with the float model.
    pub top1_agreement: f64,
    /// Accuracy against the labels, when given.
    pub accuracy: Option<LabelScores>,
}

impl SearchPoint {
    /// The cost the objective minimizes: pJ, seconds or pJ x s.
    pub fn cost_of(&self, objective: Objective) -> f64 {
        cost_of(&self.cost, objective)
    }

    /// The accuracy the front maximizes: top-1 against the labels, else the logits' SQNR.
    pub fn quality(&self) -> f64 {
        self.accuracy.map_or(self.logits_sqnr_db, |a| a.top1)
    }
}

fn cost_of(r: &RunReport, objective: Objective) -> f64 {
    let (e, t) = (r.totals.energy.total().get(), r.totals.latency.0 + r.totals.overhead.0);
    match objective {
        Objective::Energy => e,
        Objective::Latency => t,
        Objective::Edp => e * t,
    }
}

/// What a search found.
#[derive(Debug, Clone)]
pub struct SearchResult {
    /// Every verified point: the uniform pairs first, then the path states verified.
    pub points: Vec<SearchPoint>,
    /// The width pairs searched (those the accelerator runs).
    pub pairs: Vec<Precision>,
    /// Units searched: layers' weights and activation groups.
    pub units: usize,
    /// Sensitivity evaluations run.
    pub sensitivity_evals: usize,
    /// Greedy paths walked.
    pub paths: usize,
    /// Distinct path states (candidates) costed by the pipeline.
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

/// One searched width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// The weights of a layer.
    Weights(LayerId),
    /// A group of activation tensors stored at one width, and the layers that read it.
    Activations(Vec<LayerId>),
}

/// The searched widths of a graph: its units, the widths each may take, and which pairs
/// are valid. A state is one width per unit.
#[derive(Debug, Clone)]
pub struct Space {
    /// The valid (weight, activation) pairs of a layer with weights.
    pub pairs: Vec<Precision>,
    /// The units: the layers' weights (graph order), then the activation groups (in order
    /// of their first reader).
    pub units: Vec<Unit>,
    /// The weight widths among `pairs`, then the activation widths (widest first).
    wbits: Vec<u8>,
    abits: Vec<u8>,
    /// Per layer: its weight unit and its activation unit.
    weight_unit: Vec<Option<usize>>,
    act_unit: Vec<Option<usize>>,
}

/// A state: one width per unit of a [`Space`].
pub type State = Vec<u8>;

impl Space {
    /// The units of `g` with the widths of `pairs`.
    pub fn new(g: &Graph, pairs: &[Precision]) -> Space {
        let distinct = |f: fn(&Precision) -> u8| {
            let mut v: Vec<u8> = pairs.iter().map(f).collect();
            v.sort_unstable_by(|a, b| b.cmp(a));
            v.dedup();
            v
        };
        let (wbits, abits) = (distinct(|p| p.weight_bits), distinct(|p| p.activation_bits));
        let n = g.tensors.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        let join = |parent: &mut Vec<usize>, a: usize, b: usize| {
            let (ra, rb) = (root(parent, a), root(parent, b));
            parent[ra] = rb;
        };
        let act_inputs = |l: &crate::ir::Layer| -> Vec<usize> {
            l.inputs.iter().filter(|&&t| g.tensor(t).kind == TensorKind::Activation).map(|t| t.0).collect()
        };
        for l in &g.layers {
            let ins = act_inputs(l);
            for w in ins.windows(2) {
                join(&mut parent, w[0], w[1]);
            }
            if crate::quant::widths::passes_quantization_through(&l.op) {
                for o in &l.outputs {
                    join(&mut parent, l.inputs[0].0, o.0);
                }
            }
        }
        let mut units: Vec<Unit> = Vec::new();
        let mut weight_unit = vec![None; g.layers.len()];
        for (i, l) in g.layers.iter().enumerate() {
            if g.weights_of(l).is_some() {
                weight_unit[i] = Some(units.len());
                units.push(Unit::Weights(LayerId(i)));
            }
        }
        let mut act_unit = vec![None; g.layers.len()];
        let mut group_unit: Vec<Option<usize>> = vec![None; n];
        for (i, l) in g.layers.iter().enumerate() {
            let Some(&t) = act_inputs(l).first() else { continue };
            let r = root(&mut parent, t);
            let u = *group_unit[r].get_or_insert_with(|| {
                units.push(Unit::Activations(Vec::new()));
                units.len() - 1
            });
            if let Unit::Activations(readers) = &mut units[u] {
                readers.push(LayerId(i));
            }
            act_unit[i] = Some(u);
        }
        Space { pairs: pairs.to_vec(), units, wbits, abits, weight_unit, act_unit }
    }

    /// The widths unit `u` may take, widest first.
    pub fn widths(&self, u: usize) -> &[u8] {
        match self.units[u] {
            Unit::Weights(_) => &self.wbits,
            Unit::Activations(_) => &self.abits,
        }
    }

    /// Every unit at `p`'s widths.
    pub fn uniform(&self, p: Precision) -> State {
        self.units
            .iter()
            .map(|u| match u {
                Unit::Weights(_) => p.weight_bits,
                Unit::Activations(_) => p.activation_bits,
            })
            .collect()
    }

    /// Layer `l`'s (weight, activation) widths in `s` (`None` where it has no such unit).
    fn layer_widths(&self, s: &[u8], l: usize) -> (Option<u8>, Option<u8>) {
        (self.weight_unit[l].map(|u| s[u]), self.act_unit[l].map(|u| s[u]))
    }

    /// Whether a mode runs every layer with weights at its pair in `s`.
    pub fn valid(&self, s: &[u8]) -> bool {
        (0..self.weight_unit.len()).all(|l| match self.layer_widths(s, l) {
            (Some(w), Some(a)) => self.pairs.contains(&Precision { weight_bits: w, activation_bits: a }),
            _ => true,
        })
    }

    /// The plan of state `s` (layers without a unit at `reference`).
    pub fn plan(&self, g: &Graph, s: &[u8], reference: Precision) -> Result<WidthPlan, SearchError> {
        let requests: Vec<LayerRequest> = (0..g.layers.len())
            .filter_map(|l| {
                let (weight, activation) = self.layer_widths(s, l);
                (weight.is_some() || activation.is_some()).then(|| LayerRequest {
                    source: "search".into(),
                    layer: g.layers[l].name.clone(),
                    weight,
                    activation,
                    group: None,
                })
            })
            .collect();
        WidthPlan::resolve(g, reference, &requests).map_err(|e| SearchError::Point(e.to_string()))
    }
}

/// The estimates a path follows: each layer's table cost at each pair, each unit's added
/// noise at each width.
pub struct Estimates<'a> {
    /// The space.
    pub space: &'a Space,
    /// `cost[l][i]`: layer `l`'s cost at `space.pairs[i]` (a layer without weights: at any
    /// pair with that activation width).
    pub cost: Vec<Vec<f64>>,
    /// `noise[u][j]`: the noise unit `u` adds at `space.widths(u)[j]`.
    pub noise: Vec<Vec<f64>>,
}

impl Estimates<'_> {
    /// The table cost of a state.
    pub fn cost(&self, s: &[u8]) -> f64 {
        let sp = self.space;
        (0..self.cost.len())
            .map(|l| {
                let (w, a) = sp.layer_widths(s, l);
                let i = sp
                    .pairs
                    .iter()
                    .position(|p| w.is_none_or(|w| p.weight_bits == w) && a.is_none_or(|a| p.activation_bits == a));
                i.map_or(0.0, |i| self.cost[l][i])
            })
            .sum()
    }

    /// The added noise of a state.
    pub fn noise(&self, s: &[u8]) -> f64 {
        s.iter()
            .enumerate()
            .map(|(u, &b)| {
                let j = self.space.widths(u).iter().position(|&x| x == b);
                j.map_or(0.0, |j| self.noise[u][j])
            })
            .sum()
    }

    /// The valid states one unit away from `s`, with their table cost and noise.
    fn moves(&self, s: &[u8]) -> Vec<(State, f64, f64)> {
        let mut out = Vec::new();
        for u in 0..s.len() {
            for &b in self.space.widths(u) {
                if b == s[u] {
                    continue;
                }
                let mut t = s.to_vec();
                t[u] = b;
                if self.space.valid(&t) {
                    let (c, n) = (self.cost(&t), self.noise(&t));
                    out.push((t, c, n));
                }
            }
        }
        out
    }

    /// The path down from `start`: each step the move that saves the most table cost per
    /// unit of added noise (moves adding none first, by saving), until none saves.
    pub fn descend(&self, start: State) -> Vec<State> {
        self.walk(start, |dc, dn| (dc > 0.0).then(|| (if dn <= 0.0 { f64::INFINITY } else { dc / dn }, dc)))
    }

    /// The path up from `start`: each step the move that removes the most noise per unit of
    /// added table cost (moves that cost nothing first, by noise removed), until none
    /// removes noise.
    pub fn ascend(&self, start: State) -> Vec<State> {
        self.walk(start, |dc, dn| (dn < 0.0).then(|| (if dc >= 0.0 { f64::INFINITY } else { dn / dc }, -dn)))
    }

    /// A path from `start`; `score(saving, added noise)` ranks a move (`None`: not taken),
    /// ties by the second figure. Each step strictly improves what `score` requires, so
    /// the walk ends.
    fn walk(&self, start: State, score: impl Fn(f64, f64) -> Option<(f64, f64)>) -> Vec<State> {
        let mut path = vec![start];
        loop {
            let s = path.last().expect("a path has its start");
            let (c0, n0) = (self.cost(s), self.noise(s));
            let mut best: Option<((f64, f64), State)> = None;
            for (t, c, n) in self.moves(s) {
                if let Some(k) = score(c0 - c, n - n0) {
                    if best.as_ref().is_none_or(|(b, _)| k.0 > b.0 || (k.0 == b.0 && k.1 > b.1)) {
                        best = Some((k, t));
                    }
                }
            }
            match best {
                Some((_, t)) => path.push(t),
                None => return path,
            }
        }
    }
}

/// Relative noise power of an SQNR in dB.
fn noise(sqnr_db: f64) -> f64 {
    if sqnr_db.is_finite() {
        10f64.powf(-sqnr_db / 10.0)
    } else if sqnr_db > 0.0 {
        0.0
    } else {
        1.0
    }
}

/// The logits' SQNR of an evaluation that scored `logits` (else the output's).
fn logits_sqnr(r: &EvalReport, logits: Option<&str>) -> f64 {
    logits.and_then(|n| r.layers.iter().find(|l| l.layer == n)).map_or(r.output_sqnr_db, |l| l.sqnr_db)
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
    if !pairs.contains(&cfg.reference) {
        return Err(SearchError::Pairs(format!(
            "the reference w{}a{} is not among the widths {} runs of those asked",
            cfg.reference.weight_bits, cfg.reference.activation_bits, hw.name
        )));
    }
    if float.layers.iter().all(|l| float.weights_of(l).is_none()) {
        return Err(SearchError::NoLayers(float.name.clone()));
    }
    let space = Space::new(float, &pairs);
    let arith: Arithmetic = crate::accuracy::arithmetic_of(hw);
    let acc_bits = hw.accumulator.bits.min(32) as u8;
    // 1. Cost table: one pipeline run per uniform pair, each layer's row.
    let mut memo = TilingMemo::default();
    let mut cost = vec![vec![0.0; pairs.len()]; float.layers.len()];
    for (pi, &p) in pairs.iter().enumerate() {
        let mut w = float.clone();
        crate::quant::assign_widths(&mut w, &WidthPlan::uniform(float, p), acc_bits);
        let r = crate::pipeline::run_memo(&w, hw, cfg.objective, &mut memo)
            .map_err(|e| SearchError::Point(e.to_string()))?;
        for (l, row) in r.layers.iter().enumerate().take(float.layers.len()) {
            let (e, t) = (row.energy.total().get(), row.latency.0);
            cost[l][pi] = match cfg.objective {
                Objective::Energy => e,
                Objective::Latency => t,
                // Per-layer EDP does not add up: rank by the layer's energy x latency.
                Objective::Edp => e * t,
            };
        }
    }
    // 2. Sensitivity of each unit at each width, against the reference.
    let logits = logits_layer(float);
    let keep: Vec<_> =
        logits.iter().filter_map(|n| float.layers.iter().find(|l| &l.name == n).map(|l| l.outputs[0])).collect();
    let scored: Vec<&str> = logits.iter().map(String::as_str).collect();
    let runs = FloatRuns::new(float, inputs, labels, &keep)?;
    let quantize = |plan: WidthPlan| {
        quantize_graph(float, cal, &PtqConfig { widths: plan, ..cfg.ptq.clone() })
            .map_err(|e| SearchError::Point(e.to_string()))
    };
    let ref_state = space.uniform(cfg.reference);
    let reference_q = quantize(space.plan(float, &ref_state, cfg.reference)?)?;
    let reference_noise = noise(logits_sqnr(&runs.evaluate(&reference_q, arith, &scored)?, logits.as_deref()));
    let prefix_runs = runs.integer_runs(&reference_q, arith)?;
    let jobs: Vec<(usize, usize)> = (0..space.units.len())
        .flat_map(|u| (0..space.widths(u).len()).map(move |j| (u, j)))
        .filter(|&(u, j)| space.widths(u)[j] != ref_state[u])
        .collect();
    let measured = jobs
        .par_iter()
        .map(|&(u, j)| {
            let mut s = ref_state.clone();
            s[u] = space.widths(u)[j];
            let q = quantize(space.plan(float, &s, cfg.reference)?)?;
            let r = runs.evaluate_after(&q, arith, &scored, Some((&reference_q, &prefix_runs)))?;
            Ok(noise(logits_sqnr(&r, logits.as_deref())) - reference_noise)
        })
        .collect::<Result<Vec<f64>, SearchError>>()?;
    let mut added: Vec<Vec<f64>> = (0..space.units.len()).map(|u| vec![0.0; space.widths(u).len()]).collect();
    for (&(u, j), n) in jobs.iter().zip(measured) {
        added[u][j] = n;
    }
    let est = Estimates { space: &space, cost, noise: added };
    // 3. Paths: down from the reference and every uniform state, up from every uniform one.
    let uniform_states: Vec<State> = pairs.iter().map(|&p| space.uniform(p)).collect();
    let mut paths = vec![est.descend(ref_state.clone())];
    for u in &uniform_states {
        if *u != ref_state {
            paths.push(est.descend(u.clone()));
        }
        paths.push(est.ascend(u.clone()));
    }
    // 4. Every distinct state, costed exactly (each worker with its own memo: a memo
    //    returns what a fresh search returns, so the figures do not depend on the split).
    let mut seen: HashSet<&State> = uniform_states.iter().collect();
    let candidates: Vec<&State> = paths.iter().flatten().filter(|s| seen.insert(s)).collect();
    let exact = candidates
        .par_iter()
        .map_init(TilingMemo::default, |memo, s| {
            let plan = space.plan(float, s, cfg.reference)?;
            let mut w = float.clone();
            crate::quant::assign_widths(&mut w, &plan, acc_bits);
            let r = crate::pipeline::run_memo(&w, hw, cfg.objective, memo)
                .map_err(|e| SearchError::Point(e.to_string()))?;
            Ok((cost_of(&r, cfg.objective), est.noise(s), plan))
        })
        .collect::<Result<Vec<(f64, f64, WidthPlan)>, SearchError>>()?;
    // 5. The estimated front (exact cost, estimated noise), a spread of it verified with
    //    every uniform pair.
    let on = front(&exact.iter().map(|&(c, n, _)| (c, -n)).collect::<Vec<_>>());
    let mut est_front: Vec<usize> = (0..exact.len()).filter(|&i| on[i]).collect();
    est_front.sort_by(|&a, &b| exact[a].0.total_cmp(&exact[b].0));
    est_front.dedup_by(|a, b| exact[*a].0 == exact[*b].0);
    let mut todo: Vec<(WidthPlan, Option<Precision>)> =
        pairs.iter().map(|&p| (WidthPlan::uniform(float, p), Some(p))).collect();
    todo.extend(spread(est_front.len(), cfg.max_verified).into_iter().map(|i| (exact[est_front[i]].2.clone(), None)));
    let mut points = Vec::with_capacity(todo.len());
    for (plan, uniform) in todo {
        let q = quantize(plan.clone())?;
        let r = runs.evaluate(&q, arith, &scored)?;
        let cost = crate::pipeline::run_memo(&q, hw, cfg.objective, &mut memo)
            .map_err(|e| SearchError::Point(e.to_string()))?;
        points.push(SearchPoint {
            plan,
            uniform,
            cost,
            sqnr_db: r.output_sqnr_db,
            logits_sqnr_db: logits_sqnr(&r, logits.as_deref()),
            top1_agreement: r.top1_agreement,
            accuracy: r.accuracy,
        });
    }
    Ok(SearchResult {
        points,
        pairs,
        units: space.units.len(),
        sensitivity_evals: jobs.len(),
        paths: paths.len(),
        candidates_costed: exact.len(),
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

    const fn pr(w: u8, a: u8) -> Precision {
        Precision { weight_bits: w, activation_bits: a }
    }

    /// One layer with weights: unit 0 its weights, unit 1 its input.
    fn one_layer(pairs: &[Precision]) -> Space {
        Space {
            pairs: pairs.to_vec(),
            units: vec![Unit::Weights(LayerId(0)), Unit::Activations(vec![LayerId(0)])],
            wbits: vec![8, 4],
            abits: vec![8, 4],
            weight_unit: vec![Some(0)],
            act_unit: vec![Some(1)],
        }
    }

    #[test]
    fn paths_take_free_moves_first_then_the_best_ratio_and_stay_valid() {
        let pairs = [pr(8, 8), pr(4, 8), pr(8, 4), pr(4, 4)];
        let space = one_layer(&pairs);
        // w4 saves 10 for noise 1, a4 saves 4 for none, both save 20.
        let est = Estimates {
            space: &space,
            cost: vec![vec![30.0, 20.0, 26.0, 10.0]],
            noise: vec![vec![0.0, 1.0], vec![0.0, 0.0]],
        };
        assert_eq!(est.descend(vec![8, 8]), vec![vec![8, 8], vec![8, 4], vec![4, 4]]);
        // Up from the cheapest: only w8 removes noise.
        assert_eq!(est.ascend(vec![4, 4]), vec![vec![4, 4], vec![8, 4]]);
        // A move that saves nothing is never taken; an invalid state is never visited.
        let flat = Estimates { space: &space, cost: vec![vec![5.0; 4]], noise: vec![vec![0.0, 0.0]; 2] };
        assert_eq!(flat.descend(vec![8, 8]), vec![vec![8, 8]]);
        let no_w8a4 = one_layer(&[pr(8, 8), pr(4, 8), pr(4, 4)]);
        let est = Estimates { space: &no_w8a4, cost: vec![vec![30.0, 20.0, 10.0]], noise: est.noise };
        assert!(est.descend(vec![8, 8]).iter().all(|s| no_w8a4.valid(s)));
        assert_eq!(est.descend(vec![8, 8]).last(), Some(&vec![4, 4]));
    }

    #[test]
    fn every_activation_group_is_a_unit_and_a_state_runs_as_asked() {
        // MobileNet-v2: residual ADDs read two tensors, a pooling and a reshape pass
        // theirs through, so groups span several layers.
        let g = crate::import::load_model("mnv2", &Default::default()).expect("mnv2");
        let space = Space::new(&g, &[pr(8, 8), pr(4, 4)]);
        let weights = g.layers.iter().filter(|l| g.weights_of(l).is_some()).count();
        let groups = space.units.iter().filter(|u| matches!(u, Unit::Activations(_))).count();
        assert_eq!(space.units.len(), weights + groups);
        // Layers without weights have an activation unit of their own or share one.
        for (i, l) in g.layers.iter().enumerate() {
            let reads = l.inputs.iter().any(|&t| g.tensor(t).kind == TensorKind::Activation);
            assert_eq!(space.act_unit[i].is_some(), reads, "{}", l.name);
        }
        assert!(g.layers.iter().enumerate().any(|(i, l)| g.weights_of(l).is_none() && space.act_unit[i].is_some()));
        // Alternate 8 and 4 bits over the groups: every layer reads its inputs at its
        // group's width, none is widened by another reader.
        let s: State = (0..space.units.len()).map(|u| if u % 2 == 0 { 8 } else { 4 }).collect();
        let plan = space.plan(&g, &s, pr(8, 8)).expect("plan");
        assert!(plan.widened(&g).is_empty(), "{:?}", plan.widened(&g));
        let widths = plan.activation_widths(&g);
        for (i, l) in g.layers.iter().enumerate() {
            for &t in l.inputs.iter().filter(|&&t| g.tensor(t).kind == TensorKind::Activation) {
                assert_eq!(widths[t.0], space.act_unit[i].map(|u| s[u]), "{}", l.name);
            }
        }
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
