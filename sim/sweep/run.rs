//! Costing the points of a plan in parallel.
//!
//! Each network is parsed once; each (network, weight bits, activation bits, accumulator
//! bits) graph is width-assigned once and shared by every hardware point that uses it.
//! Each accelerator description is parsed once ([`HwTemplate`]); a point applies its
//! `--set` overrides to the parsed form. Each worker keeps a [`RunMemo`], so points that
//! differ only in fields the tiling does not read reuse its searches (exactly: the tiling
//! is a pure function of its key).
//! With `--functional`, the distinct functional keys of the points are computed first (one
//! accelerator instantiation per point gives its arithmetic), evaluated once each in
//! parallel ([`super::functional`]), and joined into the points' results.
//! Results come back in point order whatever the number of threads, so a sweep's output is
//! byte-identical on 1 or 64 threads.

use super::axes::SeqPoint;
use super::functional::{distinct, evaluate_keys, FunctionalKey, FunctionalResult};
use super::plan::{Point, SweepSpec};
use super::table::Row;
use crate::hw::{load_hw_with, HwTemplate};
use crate::import::{load_model, LoadOptions};
use crate::ir::Graph;
use crate::pipeline::setups::RunMemo;
use crate::quant::widths::{common_widths, Common};
use crate::quant::{assign_widths, is_quantized, WidthPlan};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The outcome of one design point.
#[derive(Debug, Clone, PartialEq)]
pub struct PointResult {
    /// The point.
    pub point: Point,
    /// Accelerator name in the output ([`SweepSpec::hw_labels`]).
    pub hw: String,
    /// Network name as given.
    pub model: String,
    /// Clock (Hz), 0 if unknown.
    pub clock_hz: f64,
    /// Peak MAC/s of the compute mode the widths select, 0 if none.
    pub peak_macs_per_s: f64,
    /// Effective DRAM bandwidth (bytes/s), 0 if unknown.
    pub dram_bytes_per_s: f64,
    /// The total row first, then (if asked) one row per layer; empty on error.
    pub rows: Vec<Row>,
    /// Why the point failed.
    pub error: Option<String>,
    /// SQNR and top-1 of the point's functional key (`--functional`, on success).
    pub functional: Option<FunctionalResult>,
    /// The (weight, activation) widths of a point that kept a quantized model's own widths
    /// (the `wbits` / `abits` columns): a number, `mixed` when its layers differ, `own`
    /// when the point failed before they were known; `None` when the point set the widths.
    pub own_widths: Option<(String, String)>,
}

/// The results of a sweep, in point order, and how much functional work it took.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRun {
    /// One result per point.
    pub results: Vec<PointResult>,
    /// Functional evaluations done (distinct functional keys), 0 for cost-only sweeps.
    pub functional_evals: usize,
}

/// A width-assigned graph's key: network, workload, widths, the point's granularity, accumulator bits.
type Key = (usize, usize, u8, u8, SeqPoint, u8);

/// Costs `points` of `spec` on the current rayon pool. `tick` is called once per finished
/// point (for a progress bar). Never fails: a failing point carries its error.
pub fn run_points(spec: &SweepSpec, points: &[Point], tick: &(dyn Fn() + Sync)) -> Vec<PointResult> {
    run_sweep(spec, points, tick).results
}

/// [`run_points`], also reporting the number of functional evaluations.
pub fn run_sweep(spec: &SweepSpec, points: &[Point], tick: &(dyn Fn() + Sync)) -> SweepRun {
    let (models, hw) = used_by(spec, points.iter().map(|p| (p.model, p.hw)));
    let mut s = Sweeper::new(spec, &models, &hw);
    let results = s.run(points, tick);
    SweepRun { results, functional_evals: s.functional_evals() }
}

/// Which networks and accelerators of `spec` the `(model, hw)` pairs use.
pub fn used_by(spec: &SweepSpec, pairs: impl Iterator<Item = (usize, usize)>) -> (Vec<bool>, Vec<bool>) {
    let (mut models, mut hw) = (vec![false; spec.models.len()], vec![false; spec.hw.len()]);
    for (m, h) in pairs {
        models[m] = true;
        hw[h] = true;
    }
    (models, hw)
}

/// Which networks and accelerators the points `range` of `spec` use, without listing the
/// points: the accelerator is the outermost digit of a point index and the network the
/// next, so the range visits at most one network per step of their stride.
pub fn used_by_range(spec: &SweepSpec, range: std::ops::Range<usize>) -> (Vec<bool>, Vec<bool>) {
    let stride = (spec.len() / spec.hw.len().max(1) / spec.models.len().max(1)).max(1);
    let firsts = range.clone().step_by(stride).chain(range.end.checked_sub(1).filter(|&e| e >= range.start));
    used_by(spec, firsts.map(|i| ((i / stride) % spec.models.len().max(1), i / stride / spec.models.len().max(1))))
}

/// The state a sweep keeps across batches of points, so a sweep can be run (and written)
/// in batches with memory bounded by the batch, not the sweep: the networks and accelerator
/// templates parsed once, the width-assigned graphs, and the functional results by key
/// (each key is evaluated once, in the first batch that needs it).
pub struct Sweeper<'s> {
    spec: &'s SweepSpec,
    seed: u64,
    /// Per network and workload (`model * workloads + phase index`): the graph as loaded.
    /// A functional sweep has one workload, so this is indexed by network there.
    models: Vec<Option<Result<Graph, String>>>,
    /// Workloads per network ([`crate::sweep::axes::SeqAxes::lens`]'s first).
    phases: usize,
    /// Per network: costed at the widths it carries (a quantized network, no widths given).
    own: Vec<bool>,
    templates: Vec<Option<HwTemplate>>,
    /// Accelerator names in the output ([`SweepSpec::hw_labels`]).
    labels: Vec<String>,
    cache: Mutex<HashMap<Key, Arc<Graph>>>,
    functional: HashMap<FunctionalKey, Result<FunctionalResult, String>>,
    /// One schedule memo per worker thread, kept across batches (a sweep's neighbouring
    /// points share schedules, seeds, candidate fronts and layers' setups; see [`RunMemo`]).
    memos: Vec<Mutex<RunMemo>>,
}

impl<'s> Sweeper<'s> {
    /// Loads the networks and accelerators marked used (see [`used_by`], [`used_by_range`]).
    pub fn new(spec: &'s SweepSpec, models_used: &[bool], hw_used: &[bool]) -> Self {
        let opts = LoadOptions { width: spec.width, resolution: spec.resolution, ..Default::default() };
        let phases = spec.seq.lens()[0];
        let models: Vec<Option<Result<Graph, String>>> = spec
            .models
            .iter()
            .zip(models_used)
            .flat_map(|(m, &u)| {
                let opts = &opts;
                (0..phases).map(move |i| {
                    let phase = spec.seq.phases.as_ref().map(|v| v[i]);
                    let opts = LoadOptions { phase, ..opts.clone() };
                    u.then(|| load_model(m, &opts).map_err(|e| format!("cannot load the network: {e}")))
                })
            })
            .collect();
        // Without widths given, a quantized network is costed at the widths it carries.
        let own = (0..spec.models.len())
            .map(|m| {
                !spec.widths_given
                    && models[m * phases..(m + 1) * phases].iter().any(|g| matches!(g, Some(Ok(g)) if is_quantized(g)))
            })
            .collect();
        let templates = spec.hw.iter().zip(hw_used).map(|(h, &u)| if u { HwTemplate::load(h) } else { None }).collect();
        Sweeper {
            spec,
            seed: opts.seed,
            models,
            phases,
            own,
            templates,
            labels: spec.hw_labels(),
            cache: Mutex::new(HashMap::new()),
            functional: HashMap::new(),
            memos: Vec::new(),
        }
    }

    /// Functional evaluations done so far (distinct keys).
    pub fn functional_evals(&self) -> usize {
        self.functional.len()
    }

    fn graph(&self, p: &Point, acc: u8) -> Result<Arc<Graph>, String> {
        let key = (p.model, p.seq.phase_index, p.wbits, p.abits, p.seq, acc);
        if let Some(g) = self.cache.lock().map_err(|_| "graph cache poisoned".to_string())?.get(&key) {
            return Ok(g.clone());
        }
        let base = match self.models.get(p.model * self.phases + p.seq.phase_index) {
            Some(Some(Ok(g))) => g,
            Some(Some(Err(e))) => return Err(e.clone()),
            _ => return Err("internal: network not loaded".into()),
        };
        let mut g = base.clone();
        if self.own[p.model] {
            if p.seq.regranulates() {
                return Err(format!(
                    "{} carries its own quantization: give --wbits and --abits to re-target it with weight groups, dynamic activation scales or a KV-cache width",
                    self.spec.models[p.model]
                ));
            }
        } else {
            let dynamic = p.seq.act_scales.dynamic_activations(p.abits)?;
            let plan = WidthPlan::uniform(&g, p.precision())
                .with_kv_bits(p.seq.kv_bits)
                .with_kv_groups(p.seq.kv_group)
                .with_weight_groups(p.seq.weight_groups(&self.spec.seq, p.wbits))
                .with_dynamic_activations(dynamic);
            assign_widths(&mut g, &plan, acc);
        }
        let g = Arc::new(g);
        self.cache.lock().map_err(|_| "graph cache poisoned".to_string())?.entry(key).or_insert_with(|| g.clone());
        Ok(g)
    }

    /// Costs `points` (which must use only networks and accelerators marked used) on the
    /// current rayon pool, in point order; functional keys not seen before are evaluated
    /// first, in parallel.
    pub fn run(&mut self, points: &[Point], tick: &(dyn Fn() + Sync)) -> Vec<PointResult> {
        let spec = self.spec;
        let keys: Vec<Option<FunctionalKey>> = match &spec.functional {
            Some(f) => {
                let keys: Vec<Option<FunctionalKey>> = points
                    .par_iter()
                    .map(|p| {
                        let g = self.models[p.model * self.phases + p.seq.phase_index].as_ref()?.as_ref().ok()?;
                        instantiate(spec, p, &self.templates).ok().map(|hw| FunctionalKey::of(f, p, g, &hw))
                    })
                    .collect();
                let new: Vec<FunctionalKey> =
                    distinct(&keys).into_iter().filter(|k| !self.functional.contains_key(k)).collect();
                if !new.is_empty() {
                    self.functional.extend(evaluate_keys(f, &self.models, self.seed, &new));
                }
                keys
            }
            None => Vec::new(),
        };
        let threads = rayon::current_num_threads().max(1);
        if self.memos.len() < threads {
            let speeds = spec.channel_speeds();
            self.memos.resize_with(threads, || Mutex::new(RunMemo::for_channel_speeds(speeds)));
        }
        let this = &*self;
        let mut out: Vec<PointResult> = points
            .par_iter()
            .enumerate()
            .map(|(i, p)| {
                // This worker's memo (only it locks it; a memo only saves work, so which
                // one a point uses never changes its result).
                let slot = rayon::current_thread_index().unwrap_or(0) % this.memos.len();
                let mut memo = this.memos[slot].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut r =
                    run_point(spec, p, this.own[p.model], &this.templates, &this.labels, &mut memo, &|p, acc| {
                        this.graph(p, acc)
                    });
                if let Some(Some(k)) = keys.get(i) {
                    join(&mut r, this.functional.get(k));
                }
                tick();
                r
            })
            .collect();
        out.sort_by_key(|r| r.point.index);
        out
    }
}

/// Joins a functional result into a point's: a failed evaluation fails the point.
fn join(r: &mut PointResult, f: Option<&Result<FunctionalResult, String>>) {
    if r.error.is_some() {
        return;
    }
    match f {
        Some(Ok(f)) => r.functional = Some(f.clone()),
        Some(Err(e)) => {
            r.rows.clear();
            r.error = Some(e.clone());
        }
        None => {
            r.rows.clear();
            r.error = Some("internal: functional key not evaluated".into());
        }
    }
}

fn instantiate(
    spec: &SweepSpec,
    p: &Point,
    templates: &[Option<HwTemplate>],
) -> Result<crate::hw::HwDesc, crate::hw::HwError> {
    match &templates[p.hw] {
        Some(t) => t.instantiate(&spec.overrides(p)),
        None => load_hw_with(&spec.hw[p.hw], &spec.overrides(p)),
    }
}

fn run_point(
    spec: &SweepSpec,
    p: &Point,
    own: bool,
    templates: &[Option<HwTemplate>],
    labels: &[String],
    memo: &mut RunMemo,
    graph: &(dyn Fn(&Point, u8) -> Result<Arc<Graph>, String> + Sync),
) -> PointResult {
    let mut res = PointResult {
        point: p.clone(),
        hw: labels[p.hw].clone(),
        model: spec.models[p.model].clone(),
        clock_hz: 0.0,
        peak_macs_per_s: 0.0,
        dram_bytes_per_s: 0.0,
        rows: Vec::new(),
        error: None,
        functional: None,
        own_widths: None,
    };
    if own {
        res.own_widths = Some(("own".into(), "own".into()));
    }
    let hw = match instantiate(spec, p, templates) {
        Ok(h) => h,
        Err(e) => {
            res.error = Some(format!("invalid accelerator description: {e}"));
            return res;
        }
    };
    res.clock_hz = hw.clock.0;
    res.dram_bytes_per_s = hw.dram_bytes_per_cycle() * hw.clock.0;
    let peak = |w: u8, a: u8| hw.mode_for(w as u32, a as u32).map(|m| m.macs_per_cycle as f64 * hw.clock.0);
    if !own {
        res.peak_macs_per_s = peak(p.wbits, p.abits).unwrap_or(0.0);
    }
    let g = match graph(p, hw.accumulator.bits.min(64) as u8) {
        Ok(g) => g,
        Err(e) => {
            res.error = Some(e);
            return res;
        }
    };
    match crate::pipeline::run_shared(&g, spec.batch, &hw, spec.objective, memo) {
        Ok(report) => {
            if own {
                let layers = report.integer_widths();
                let label = |c: Common| match c {
                    Common::One(b) => b.to_string(),
                    Common::Mixed => "mixed".to_string(),
                    Common::None => String::new(),
                };
                let (w, a) = common_widths(&layers);
                res.own_widths = Some((label(w), label(a)));
                // The fastest mode any of its layers runs in.
                res.peak_macs_per_s = layers.iter().filter_map(|l| peak(l.weight?, l.activation)).fold(0.0, f64::max);
            }
            res.rows.push(Row::total(&report));
            if spec.per_layer {
                res.rows.extend(report.layers.iter().enumerate().map(|(i, l)| Row::layer(i, l)));
            }
        }
        Err(e) => res.error = Some(e.to_string()),
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_do_not_depend_on_thread_count_and_errors_do_not_stop_the_sweep() {
        let spec = SweepSpec {
            hw: vec!["systolic32".into(), "no_such_hw".into()],
            hw_names: vec![],
            models: vec!["mnv1".into()],
            wbits: vec![4, 8],
            abits: vec![8],
            sets: vec![("mac.rows".into(), [8.0, 16.0, 0.0].map(crate::hw::SetValue::Num).to_vec())],
            width: 1.0,
            resolution: None,
            batch: 1,
            per_layer: true,
            objective: Default::default(),
            functional: None,
            widths_given: true,
            seq: Default::default(),
        };
        let points = spec.points();
        let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
        let one = pool(1).install(|| run_points(&spec, &points, &|| {}));
        let two = pool(2).install(|| run_points(&spec, &points, &|| {}));
        assert_eq!(one, two);
        assert_eq!(one.len(), 12);
        assert!(one[0].error.is_none() && one[0].rows.len() > 1);
        assert!(one[2].error.as_deref().unwrap_or("").contains("mac.rows"), "{:?}", one[2].error);
        assert!(one[6].error.as_deref().unwrap_or("").contains("not a preset"), "{:?}", one[6].error);
    }

    #[test]
    fn the_networks_and_accelerators_of_a_range_are_those_of_its_points() {
        let spec = SweepSpec {
            hw: vec!["a".into(), "b".into(), "c".into()],
            hw_names: vec![],
            models: vec!["m".into(), "n".into()],
            wbits: vec![4, 8],
            abits: vec![8],
            sets: vec![("mac.rows".into(), [8.0, 16.0, 32.0].map(crate::hw::SetValue::Num).to_vec())],
            width: 1.0,
            resolution: None,
            batch: 1,
            per_layer: false,
            objective: Default::default(),
            functional: None,
            widths_given: true,
            seq: Default::default(),
        };
        let n = spec.len();
        for start in 0..n {
            for end in start..=n {
                let points: Vec<Point> = (start..end).map(|i| spec.point(i)).collect();
                let want = used_by(&spec, points.iter().map(|p| (p.model, p.hw)));
                assert_eq!(used_by_range(&spec, start..end), want, "{start}..{end}");
            }
        }
    }

    fn functional_spec(sets: Vec<(String, Vec<crate::hw::SetValue>)>) -> SweepSpec {
        SweepSpec {
            hw: vec!["systolic32".into()],
            hw_names: vec![],
            models: vec!["mnv1".into(), "mnv2".into()],
            wbits: vec![4, 8],
            abits: vec![8],
            sets,
            width: 0.25,
            resolution: Some(32),
            batch: 1,
            per_layer: false,
            objective: Default::default(),
            functional: Some(Default::default()),
            widths_given: true,
            seq: Default::default(),
        }
    }

    #[test]
    fn functional_results_are_computed_once_per_key_and_shared() {
        let rows = ("mac.rows".to_string(), [8.0, 16.0, 32.0, 64.0, 128.0].map(crate::hw::SetValue::Num).to_vec());
        // 2 networks x 2 widths x 5 hardware points: 4 evaluations.
        let spec = functional_spec(vec![rows.clone()]);
        let points = spec.points();
        let run = run_sweep(&spec, &points, &|| {});
        assert_eq!((run.results.len(), run.functional_evals), (20, 4));
        for r in &run.results {
            assert!(r.error.is_none(), "{:?}", r.error);
            let f = r.functional.as_ref().expect("functional result joined");
            assert!(f.inputs.contains("synthetic"), "{}", f.inputs);
            // Every point of a (network, widths) block has its first point's result.
            let first = &run.results[r.point.index / 5 * 5];
            assert_eq!(r.functional, first.functional);
        }
        // Same thread-count independence as the cost.
        let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
        assert_eq!(pool(1).install(|| run_sweep(&spec, &points, &|| {})), run);
        // A shard evaluates only the keys of its points.
        assert_eq!(run_sweep(&spec, &points[..5], &|| {}).functional_evals, 1);
        assert_eq!(run_sweep(&spec, &points[3..7], &|| {}).functional_evals, 2);
        // The accumulator width changes the integers: two widths double the evaluations.
        let acc = ("accumulator_bits".to_string(), [32.0, 12.0].map(crate::hw::SetValue::Num).to_vec());
        let spec = functional_spec(vec![rows, acc]);
        let run = run_sweep(&spec, &spec.points(), &|| {});
        assert_eq!((run.results.len(), run.functional_evals), (40, 8));
        // Cost-only sweeps do no functional work and join nothing.
        let spec = SweepSpec { functional: None, ..spec };
        let run = run_sweep(&spec, &spec.points(), &|| {});
        assert_eq!(run.functional_evals, 0);
        assert!(run.results.iter().all(|r| r.functional.is_none()));
    }

    #[test]
    fn a_failing_functional_evaluation_fails_its_points_only() {
        let mut spec = functional_spec(vec![]);
        spec.functional =
            Some(crate::sweep::plan::Functional { calib: Some("/nonexistent/calib.npy".into()), ..Default::default() });
        let run = run_sweep(&spec, &spec.points(), &|| {});
        assert_eq!(run.functional_evals, 4);
        for r in &run.results {
            let e = r.error.as_deref().unwrap_or("");
            assert!(e.contains("/nonexistent/calib.npy") && r.rows.is_empty(), "{e}");
        }
    }
}
