//! Costing the points of a plan in parallel.
//!
//! Each network is parsed once; each (network, weight bits, activation bits, accumulator
//! bits) graph is width-assigned once and shared by every hardware point that uses it.
//! Each accelerator description is parsed once ([`HwTemplate`]); a point applies its
//! `--set` overrides to the parsed form. Each worker keeps a [`TilingMemo`], so points that
//! differ only in fields the tiling does not read reuse its searches (exactly: the tiling
//! is a pure function of its key).
//! With `--functional`, the distinct functional keys of the points are computed first (one
//! accelerator instantiation per point gives its arithmetic), evaluated once each in
//! parallel ([`super::functional`]), and joined into the points' results.
//! Results come back in point order whatever the number of threads, so a sweep's output is
//! byte-identical on 1 or 64 threads.

use super::functional::{distinct, evaluate_keys, FunctionalKey, FunctionalResult};
use super::plan::{Point, SweepSpec};
use super::table::Row;
use crate::hw::{load_hw_with, HwTemplate};
use crate::import::{load_model, LoadOptions};
use crate::ir::Graph;
use crate::map::tiling::TilingMemo;
use crate::quant::widths::{common_widths, Common};
use crate::quant::{assign_uniform, is_quantized};
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

type Key = (usize, u8, u8, u8);

/// Costs `points` of `spec` on the current rayon pool. `tick` is called once per finished
/// point (for a progress bar). Never fails: a failing point carries its error.
pub fn run_points(spec: &SweepSpec, points: &[Point], tick: &(dyn Fn() + Sync)) -> Vec<PointResult> {
    run_sweep(spec, points, tick).results
}

/// [`run_points`], also reporting the number of functional evaluations.
pub fn run_sweep(spec: &SweepSpec, points: &[Point], tick: &(dyn Fn() + Sync)) -> SweepRun {
    let opts = LoadOptions { width: spec.width, resolution: spec.resolution, ..Default::default() };
    let mut used = vec![false; spec.models.len()];
    for p in points {
        used[p.model] = true;
    }
    let models: Vec<Option<Result<Graph, String>>> = spec
        .models
        .iter()
        .zip(&used)
        .map(|(m, &u)| u.then(|| load_model(m, &opts).map_err(|e| format!("cannot load the network: {e}"))))
        .collect();
    // Without widths given, a quantized network is costed at the widths it carries.
    let own: Vec<bool> =
        models.iter().map(|m| !spec.widths_given && matches!(m, Some(Ok(g)) if is_quantized(g))).collect();
    let cache: Mutex<HashMap<Key, Arc<Graph>>> = Mutex::new(HashMap::new());
    let graph = |p: &Point, acc: u8| -> Result<Arc<Graph>, String> {
        let key = (p.model, p.wbits, p.abits, acc);
        if let Some(g) = cache.lock().map_err(|_| "graph cache poisoned".to_string())?.get(&key) {
            return Ok(g.clone());
        }
        let base = match &models[p.model] {
            Some(Ok(g)) => g,
            Some(Err(e)) => return Err(e.clone()),
            None => return Err("internal: network not loaded".into()),
        };
        let mut g = base.clone();
        if !own[p.model] {
            assign_uniform(&mut g, p.precision(), acc);
        }
        let g = Arc::new(g);
        cache.lock().map_err(|_| "graph cache poisoned".to_string())?.entry(key).or_insert_with(|| g.clone());
        Ok(g)
    };
    let mut used_hw = vec![false; spec.hw.len()];
    for p in points {
        used_hw[p.hw] = true;
    }
    let templates: Vec<Option<HwTemplate>> =
        spec.hw.iter().zip(&used_hw).map(|(h, &u)| if u { HwTemplate::load(h) } else { None }).collect();
    let labels = spec.hw_labels();
    let (keys, functional) = match &spec.functional {
        Some(f) => {
            let keys: Vec<Option<FunctionalKey>> = points
                .par_iter()
                .map(|p| {
                    let g = models[p.model].as_ref()?.as_ref().ok()?;
                    instantiate(spec, p, &templates).ok().map(|hw| FunctionalKey::of(f, p, g, &hw))
                })
                .collect();
            let results = evaluate_keys(f, &models, opts.seed, &distinct(&keys));
            (keys, results)
        }
        None => (Vec::new(), HashMap::new()),
    };
    let mut out: Vec<PointResult> = points
        .par_iter()
        .enumerate()
        .map_init(TilingMemo::default, |memo, (i, p)| {
            let mut r = run_point(spec, p, own[p.model], &templates, &labels, memo, &graph);
            if let Some(Some(k)) = keys.get(i) {
                join(&mut r, functional.get(k));
            }
            tick();
            r
        })
        .collect();
    out.sort_by_key(|r| r.point.index);
    SweepRun { results: out, functional_evals: functional.len() }
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
    memo: &mut TilingMemo,
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
    match crate::pipeline::run_memo(&g, &hw, spec.objective, memo) {
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
            per_layer: true,
            objective: Default::default(),
            functional: None,
            widths_given: true,
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
            per_layer: false,
            objective: Default::default(),
            functional: Some(Default::default()),
            widths_given: true,
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
