//! `accelsim search` end to end (issue 14, item 5) on the digit classifier trained on
//! `../shared/digits_dev`: every reported point is verified; the exported point is what
//! `quantize --layer-bits` writes for the CSV's widths, and its accuracy is what `exec` of
//! that model gives on the same images; layers without weights have their activation
//! widths searched; `plot --kind pareto` draws the CSV.

use std::collections::HashMap;
use std::path::Path;

mod common;
use common::{accelsim, digits, digits_model as model};

type Row = HashMap<String, String>;

fn rows(path: &Path) -> Vec<Row> {
    let mut r = csv::Reader::from_path(path).expect("csv");
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records().map(|rec| h.iter().cloned().zip(rec.unwrap().iter().map(String::from)).collect()).collect()
}

fn num(row: &Row, k: &str) -> f64 {
    row[k].parse().unwrap_or_else(|_| panic!("{k} = {:?}", row[k]))
}

/// Top-1 accuracy of `exec`'s raw batch output (one row of `classes` values per image, f32
/// or int8 by the file size) against the labels, first maximum on ties.
fn exec_accuracy(raw: &[u8], labels: &[i64]) -> f64 {
    let n = labels.len();
    let per = raw.len() / n;
    let classes = 10;
    let values: Vec<f64> = match per / classes {
        4 => raw.chunks_exact(4).map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect(),
        1 => raw.iter().map(|&b| f64::from(b as i8)).collect(),
        other => panic!("{other} bytes per output value"),
    };
    let hits = values
        .chunks_exact(classes)
        .zip(labels)
        .filter(|(row, &y)| {
            let best = row.iter().enumerate().fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
            best as i64 == y
        })
        .count();
    hits as f64 / n as f64
}

fn labels() -> Vec<i64> {
    common::npy_labels(&digits("eval_y.npy"))
}

#[test]
fn the_front_is_verified_and_the_exported_point_is_quantize_plus_exec() {
    let dir = tempfile::tempdir().unwrap();
    let (m, c, e, y) = (model(), digits("calib_x_nhwc.npy"), digits("eval_x_nhwc.npy"), digits("eval_y.npy"));
    let (front, best) = (dir.path().join("front.csv"), dir.path().join("best.aqm"));
    let (ok, _, se) = accelsim(&[
        "search",
        "--hw",
        "mac8",
        "--model",
        &m,
        "--calib",
        &c,
        "--eval",
        &e,
        "--labels",
        &y,
        "--wbits",
        "2,4,8",
        "--abits",
        "4,8",
        "--constraint",
        "top1>=0.9",
        "--out",
        front.to_str().unwrap(),
        "--export",
        best.to_str().unwrap(),
    ]);
    assert!(ok, "{se}");
    let rows = rows(&front);
    assert!(rows.iter().all(|r| r["verified"] == "true" && r["layer"] == "TOTAL" && r["error"].is_empty()));
    // Every uniform pair mac8 runs (all six), then the mixed points.
    let uniform: Vec<&Row> = rows.iter().filter(|r| r["point"] == "uniform").collect();
    assert_eq!(uniform.len(), 6, "{rows:?}");
    assert!(rows.iter().any(|r| r["point"] == "mixed"));
    // Layers without weights are searched too: their activations are not pinned at the
    // reference a8 (the max pooling and the reshape before the classifier).
    let mixed: Vec<&Row> = rows.iter().filter(|r| r["point"] == "mixed").collect();
    for layer in ["op3_maxpool2d=a4", "op5_reshape=a4"] {
        assert!(mixed.iter().any(|r| r["widths"].split(' ').any(|w| w == layer)), "{layer}: {mixed:?}");
    }
    // The bar: at uniform w8a8's accuracy, a mixed point that costs less.
    let w8a8 = uniform.iter().find(|r| r["wbits"] == "8" && r["abits"] == "8").expect("w8a8");
    assert!(
        mixed
            .iter()
            .any(|r| num(r, "top1_accuracy") >= num(w8a8, "top1_accuracy")
                && num(r, "energy_pj") < num(w8a8, "energy_pj")),
        "{rows:?}"
    );
    // The front: no reported point is dominated by a front point, and front points by none.
    let key = |r: &Row| (num(r, "energy_pj"), num(r, "top1_accuracy"));
    for r in rows.iter().filter(|r| r["on_front"] == "true") {
        let (c0, q0) = key(r);
        assert!(!rows.iter().any(|o| {
            let (c, q) = key(o);
            c <= c0 && q >= q0 && (c < c0 || q > q0)
        }));
    }
    // The chosen point: the cheapest meeting the constraint.
    let chosen: Vec<&Row> = rows.iter().filter(|r| r["chosen"] == "true").collect();
    assert_eq!(chosen.len(), 1);
    let ch = chosen[0];
    assert!(num(ch, "top1_accuracy") >= 0.9);
    let cheapest =
        rows.iter().filter(|r| num(r, "top1_accuracy") >= 0.9).map(|r| num(r, "energy_pj")).fold(f64::MAX, f64::min);
    assert_eq!(num(ch, "energy_pj"), cheapest);
    // quantize --layer-bits with the CSV's widths writes the same model.
    let again = dir.path().join("again.aqm");
    let mut args = vec!["quantize", "--model", &m, "--calib", &c, "--out", again.to_str().unwrap()];
    let flags: Vec<String> = ch["widths"].split(' ').map(String::from).collect();
    for f in &flags {
        args.push("--layer-bits");
        args.push(f);
    }
    let (ok, _, se) = accelsim(&args);
    assert!(ok, "{se}");
    assert!(std::fs::read(&best).unwrap() == std::fs::read(&again).unwrap(), "{}", ch["widths"]);
    // exec of the exported model on the same images gives the front point's accuracy.
    let out = dir.path().join("out.raw");
    let (ok, _, se) =
        accelsim(&["exec", "--model", best.to_str().unwrap(), "--input", &e, "--output", out.to_str().unwrap()]);
    assert!(ok, "{se}");
    let acc = exec_accuracy(&std::fs::read(&out).unwrap(), &labels());
    assert_eq!(acc, num(ch, "top1_accuracy"), "{}", ch["widths"]);
    // The pareto plot reads the CSV (front against top-1 accuracy).
    let svg = dir.path().join("front.svg");
    let (ok, _, se) = accelsim(&[
        "plot",
        "--kind",
        "pareto",
        "--input",
        front.to_str().unwrap(),
        "--sqnr-column",
        "top1_accuracy",
        "--out",
        svg.to_str().unwrap(),
    ]);
    assert!(ok, "{se}");
    assert!(std::fs::read_to_string(&svg).unwrap().contains("uniform widths"));
    // Accuracies are fractions below 1: no warning about a dB column near 0.
    assert!(!se.contains("within 1 dB"), "{se}");
}

#[test]
fn bad_constraints_and_exports_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (m, c, e) = (model(), digits("calib_x_nhwc.npy"), digits("eval_x_nhwc.npy"));
    let base = ["search", "--hw", "mac8", "--model", &m, "--calib", &c, "--eval", &e];
    let best = dir.path().join("b.aqm");
    for (extra, want) in [
        (vec!["--constraint", "top1>=0.9"], "needs --labels"),
        (vec!["--constraint", "sqnr<=3"], "--constraint must be"),
        (vec!["--export", best.to_str().unwrap()], "give one"),
        (vec!["--wbits", "3", "--abits", "8"], "reference w8a8 is not among"),
    ] {
        let mut a = base.to_vec();
        a.extend(extra.iter().copied());
        let (ok, _, se) = accelsim(&a);
        assert!(!ok && se.contains(want), "{extra:?}: {se}");
    }
}
