//! `--batch N`: a network run on N images at once. Over every preset, an image never costs
//! more in a larger batch (per pass -- a layer with what is fused into it or shares a tensor
//! kept on chip with it -- and in total, for the objective the schedules are
//! chosen for), a batch costs the MACs of its images, and `--batch 1` prints exactly what a
//! run without the flag prints.

mod common;
use common::{accelsim, json_run};

use accelsim::hw::{load_hw, presets};
use accelsim::import::{load_model, LoadOptions};
use accelsim::map::tiling::Objective;
use accelsim::pipeline::{run_batch, run_for};
use accelsim::quant::{assign_uniform, Precision};
use accelsim::report::RunReport;

/// The cost of a pass (the layers whose key is `pass`), or of the whole run.
fn cost(r: &RunReport, objective: Objective, keys: &[String], pass: Option<&str>) -> f64 {
    let (cycles, energy) = match pass {
        Some(p) => r
            .layers
            .iter()
            .zip(keys)
            .filter(|(_, k)| *k == p)
            .fold((0.0, 0.0), |(c, e), (l, _)| (c + l.cycles.get() as f64, e + l.energy.total().0)),
        None => (r.totals.cycles.get() as f64, r.totals.energy.total().0),
    };
    match objective {
        Objective::Latency => cycles,
        Objective::Energy => energy,
        Objective::Edp => cycles * energy,
    }
}

/// Each layer's pass, named by its first layer: fused layers join their head, and a tensor
/// kept on chip joins every layer from its producer to its last reader, in either run.
fn pass_keys(one: &RunReport, many: &RunReport) -> Vec<String> {
    let index = |name: &str| one.layers.iter().position(|l| *l.name == *name);
    let mut root: Vec<usize> = (0..one.layers.len()).collect();
    fn find(root: &mut [usize], mut i: usize) -> usize {
        while root[i] != i {
            i = root[i];
        }
        i
    }
    let join = |root: &mut Vec<usize>, a: usize, b: usize| {
        let (x, y) = (find(root, a), find(root, b));
        root[x.max(y)] = x.min(y);
    };
    for r in [one, many] {
        for (i, l) in r.layers.iter().enumerate() {
            if let Some(h) = l.fused_into.as_deref().and_then(index) {
                join(&mut root, i, h);
            }
        }
        for t in r.on_chip.iter().filter(|t| !t.fused) {
            let p = index(&t.producer).expect("producer");
            let last = t.readers.iter().filter_map(|n| index(n)).max().unwrap_or(p);
            for i in p + 1..=last {
                join(&mut root, i, p);
            }
        }
    }
    (0..one.layers.len()).map(|i| one.layers[find(&mut root, i)].name.to_string()).collect()
}

#[test]
fn an_image_never_costs_more_in_a_larger_batch() {
    let mut failures = Vec::new();
    let mut checks = 0;
    for preset in presets::names() {
        let hw = load_hw(preset, &[]).expect("preset");
        for model in ["alexnet", "mnv1", "squeezenet"] {
            let mut one = load_model(model, &LoadOptions::default()).expect("built-in");
            assign_uniform(&mut one, Precision { weight_bits: 8, activation_bits: 8 }, hw.accumulator.bits as u8);
            for objective in [Objective::Latency, Objective::Energy] {
                let Ok(base) = run_for(&one, &hw, objective) else { continue };
                for n in [2usize, 4] {
                    let r = run_batch(&one, n, &hw, objective, None).expect("runs at batch 1, so at a larger one");
                    assert_eq!(r.totals.macs.get(), n as u64 * base.totals.macs.get(), "{preset} {model} {n}");
                    assert_eq!(r.layers.last().map(|l| l.shape[0]), Some(n), "{preset} {model} {n}");
                    // A pass: a layer with the layers fused into it at either batch, and the
                    // layers from a tensor kept on chip to its last reader (they ran on buffers
                    // shrunk by it) at either batch.
                    let keys = pass_keys(&base, &r);
                    let passes = keys.iter().map(|k| Some(k.as_str())).chain([None]);
                    for pass in passes {
                        checks += 1;
                        let per_image = cost(&r, objective, &keys, pass) / n as f64;
                        let single = cost(&base, objective, &keys, pass);
                        if per_image > single * (1.0 + 1e-9) {
                            let what = pass.unwrap_or("total");
                            failures.push(format!(
                                "{preset} {model} {} batch {n} {what}: {per_image} per image vs {single} alone",
                                objective.name()
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(checks > 1000, "{checks}");
    assert!(failures.is_empty(), "{} of {checks}:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn batch_one_prints_what_no_flag_prints() {
    for (hw, model) in [("systolic32", "mnv1"), ("nvdla_small", "mnv1"), ("dsp", "squeezenet")] {
        for format in ["table", "json", "csv"] {
            let base = ["run", "--hw", hw, "--model", model, "--format", format, "--no-accuracy"];
            let (ok, without, err) = accelsim(&base);
            assert!(ok, "{err}");
            let mut with = base.to_vec();
            with.extend(["--batch", "1"]);
            let (ok, with, err) = accelsim(&with);
            assert!(ok, "{err}");
            assert_eq!(with, without, "{hw} {model} {format}");
        }
    }
}

#[test]
fn a_batch_fetches_the_weights_once_where_it_can() {
    // AlexNet's FC layers hold 58.6 M weights: read once for 4 images, not 4 times.
    let one = json_run(&["--hw", "systolic32", "--model", "alexnet", "--no-accuracy"]);
    let four = json_run(&["--hw", "systolic32", "--model", "alexnet", "--batch", "4", "--no-accuracy"]);
    let fc = |v: &serde_json::Value| -> u64 {
        v["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .filter(|l| l["name"].as_str().is_some_and(|n| n.starts_with("fc")))
            .map(|l| l["dram_read_bytes"].as_u64().expect("bytes"))
            .sum()
    };
    assert!(fc(&four) < 2 * fc(&one), "{} vs {}", fc(&four), fc(&one));
    assert_eq!(four["totals"]["macs"].as_u64(), one["totals"]["macs"].as_u64().map(|m| 4 * m));
}

#[test]
fn batch_zero_and_unbatchable_networks_are_refused() {
    let (ok, _, err) = accelsim(&["run", "--hw", "systolic32", "--model", "alexnet", "--batch", "0"]);
    assert!(!ok && err.contains("--batch must be at least 1"), "{err}");
    let (ok, out, err) = accelsim(&["sweep", "--hw", "systolic32", "--model", "alexnet", "--batch", "2"]);
    assert!(ok, "{err}");
    assert!(out.lines().count() >= 2, "{out}");
}
