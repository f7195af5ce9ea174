//! Accuracy against labels end to end (issue 14, item 2), on the digit classifier trained
//! on `../shared/digits_dev` (`tests/fixtures/digits`, `scripts/train_digits.py`):
//! `quantize --labels` and `sweep --functional --labels` report top-1 accuracy equal to the
//! count of correct arg-maxes of `exec`'s batch outputs (computed here) over N; `exec` on a
//! `.npy` batch writes what N single runs write; label files that do not fit are refused
//! with errors naming them.

use std::path::{Path, PathBuf};

mod common;
use common::{accelsim, digits, digits_model as model, npy_labels as labels};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Float32 values of a raw file.
fn floats(path: &Path) -> Vec<f32> {
    std::fs::read(path).expect("output").chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// `text` without whitespace and miette's frame, so wrapped messages can be searched.
fn flat(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace() && *c != '│').collect()
}

/// Asserts that `reported` (read back from JSON or CSV text, which need not round-trip
/// the last bit) is `expect`, a count of correct images over `n`: the same count.
fn same_share(reported: Option<f64>, expect: f64, n: usize, what: &str) {
    let r = reported.unwrap_or_else(|| panic!("{what}: missing"));
    assert_eq!((r * n as f64).round(), (expect * n as f64).round(), "{what}: {r} vs {expect}");
    assert!((r - expect).abs() < 1e-9, "{what}: {r} vs {expect}");
}

/// The fraction of rows of 10 logits whose first largest value is at the label.
fn top1(logits: &[f32], y: &[i64]) -> f64 {
    assert_eq!(logits.len(), 10 * y.len());
    let correct = logits
        .chunks(10)
        .zip(y)
        .filter(|(r, &l)| {
            let best = (0..10).fold(0, |b, k| if r[k] > r[b] { k } else { b });
            best as i64 == l
        })
        .count();
    correct as f64 / y.len() as f64
}

fn quantize_json(out: &Path, extra: &[&str]) -> serde_json::Value {
    let (m, c, o) = (model(), calib_s(), out.to_string_lossy().into_owned());
    let mut a = vec!["quantize", "--model", &m, "--calib", &c, "--format", "json", "--out", &o];
    a.extend_from_slice(extra);
    let (ok, so, se) = accelsim(&a);
    assert!(ok, "quantize {extra:?}: {se}");
    serde_json::from_str(&so).expect("json")
}

fn calib_s() -> String {
    digits("calib_x_nhwc.npy")
}

#[test]
fn quantize_top1_accuracy_is_the_share_of_correct_argmaxes_of_exec() {
    let dir = tempfile::tempdir().unwrap();
    let (eval, ypath) = (digits("eval_x_nhwc.npy"), digits("eval_y.npy"));
    let y = labels(&ypath);
    assert_eq!(y.len(), 300);
    for (w, a) in [("8", "8"), ("4", "8")] {
        let aqm = dir.path().join(format!("d_w{w}a{a}.aqm"));
        let r = quantize_json(&aqm, &["--wbits", w, "--abits", a, "--eval", &eval, "--labels", &ypath]);
        let out = dir.path().join("q.bin");
        let (ok, _, se) =
            accelsim(&["exec", "--model", aqm.to_str().unwrap(), "--input", &eval, "--output", out.to_str().unwrap()]);
        assert!(ok, "{se}");
        let expect = top1(&floats(&out), &y);
        same_share(r["output"]["top1_accuracy"].as_f64(), expect, 300, &format!("w{w}a{a}: {r}"));
        assert!(r["output"].get("top5_accuracy").is_some(), "10 classes have a top-5");
        // The float model, through exec on the .tflite, and TensorFlow's own figure.
        let fout = dir.path().join("f.bin");
        let (ok, _, se) =
            accelsim(&["exec", "--model", &model(), "--input", &eval, "--output", fout.to_str().unwrap()]);
        assert!(ok, "{se}");
        let float_top1 = top1(&floats(&fout), &y);
        same_share(r["float"]["top1_accuracy"].as_f64(), float_top1, 300, "float");
        let tf: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("tests/fixtures/digits/digits_cnn.json")).unwrap(),
        )
        .unwrap();
        same_share(tf["tflite_eval_top1"].as_f64(), float_top1, 300, "accelsim's float run scores as LiteRT's");
    }
}

#[test]
fn exec_on_a_batch_writes_what_single_runs_write() {
    let dir = tempfile::tempdir().unwrap();
    let aqm = dir.path().join("d.aqm");
    quantize_json(&aqm, &["--wbits", "4", "--abits", "6"]);
    let calib = calib_s();
    let all = dir.path().join("all.bin");
    let (ok, _, se) =
        accelsim(&["exec", "--model", aqm.to_str().unwrap(), "--input", &calib, "--output", all.to_str().unwrap()]);
    assert!(ok, "{se}");
    let all = std::fs::read(&all).unwrap();
    // Items 0 and 57 as raw float32 files.
    let npy = std::fs::read(&calib).unwrap();
    let hlen = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    let item = 16 * 16 * 4;
    for i in [0usize, 57] {
        let raw = dir.path().join("x.bin");
        std::fs::write(&raw, &npy[10 + hlen + i * item..10 + hlen + (i + 1) * item]).unwrap();
        let one = dir.path().join("one.bin");
        let (ok, _, se) = accelsim(&[
            "exec",
            "--model",
            aqm.to_str().unwrap(),
            "--input",
            raw.to_str().unwrap(),
            "--output",
            one.to_str().unwrap(),
        ]);
        assert!(ok, "{se}");
        assert_eq!(std::fs::read(&one).unwrap(), all[i * 40..(i + 1) * 40], "item {i}");
    }
    assert_eq!(all.len(), 100 * 40);
    // The same bytes on any number of worker threads.
    let on_threads = |threads: &str| {
        let out = dir.path().join(format!("t{threads}.bin"));
        let o = out.to_str().unwrap();
        let (ok, _, se) = accelsim(&[
            "exec",
            "--model",
            aqm.to_str().unwrap(),
            "--input",
            &calib,
            "--output",
            o,
            "--threads",
            threads,
        ]);
        (ok.then(|| std::fs::read(&out).unwrap()), se)
    };
    for threads in ["1", "2", "3"] {
        let (out, se) = on_threads(threads);
        assert_eq!(out.as_ref(), Some(&all), "--threads {threads}: {se}");
    }
    let (out, se) = on_threads("0");
    assert!(out.is_none() && se.contains("--threads must be at least 1, got 0"), "{se}");
    assert!(!dir.path().join("t0.bin").exists());
}

#[test]
fn labels_that_do_not_fit_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d.aqm");
    let (eval, short) = (digits("eval_x_nhwc.npy"), digits("calib_y.npy"));
    let o = out.to_string_lossy().into_owned();
    let (ok, _, se) = accelsim(&[
        "quantize",
        "--model",
        &model(),
        "--calib",
        &calib_s(),
        "--out",
        &o,
        "--eval",
        &eval,
        "--labels",
        &short,
    ]);
    assert!(!ok);
    assert!(flat(&se).contains("calib_y.npy") && flat(&se).contains("100labelsfor300evaluationimages"), "{se}");
    assert!(!out.exists(), "no output on error");
    let (ok, _, se) = accelsim(&[
        "sweep",
        "--hw",
        "mac8",
        "--model",
        &model(),
        "--functional",
        "--calib",
        &calib_s(),
        "--eval",
        &eval,
        "--labels",
        &short,
    ]);
    assert!(!ok);
    assert!(flat(&se).contains("calib_y.npy") && flat(&se).contains("100labelsfor300evaluationimages"), "{se}");
    // Images as labels: not integers.
    let (ok, _, se) = accelsim(&[
        "quantize",
        "--model",
        &model(),
        "--calib",
        &calib_s(),
        "--out",
        &o,
        "--eval",
        &eval,
        "--labels",
        &eval,
    ]);
    assert!(!ok);
    assert!(flat(&se).contains("eval_x_nhwc.npy") && flat(&se).contains("integerclasslabels"), "{se}");
}

#[test]
fn sweep_functional_labels_agree_with_quantize() {
    let dir = tempfile::tempdir().unwrap();
    let (eval, ypath) = (digits("eval_x_nhwc.npy"), digits("eval_y.npy"));
    let (ok, csv, se) = accelsim(&[
        "sweep",
        "--hw",
        "mac8",
        "--model",
        &model(),
        "--wbits",
        "4,8",
        "--functional",
        "--calib",
        &calib_s(),
        "--eval",
        &eval,
        "--labels",
        &ypath,
    ]);
    assert!(ok, "{se}");
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}: {h:?}"));
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let w = &row[col("wbits")];
        let q = quantize_json(&dir.path().join("x.aqm"), &["--wbits", w, "--eval", &eval, "--labels", &ypath]);
        for k in ["top1_accuracy", "top5_accuracy"] {
            let got: f64 = row[col(k)].parse().unwrap();
            same_share(q["output"][k].as_f64(), got, 300, &format!("w{w} {k}"));
        }
        assert!(row[col("functional_inputs")].contains("labels="), "{row:?}");
    }
}
