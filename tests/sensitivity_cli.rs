//! `accelsim sensitivity` end to end (issue 14, item 3) on the digit classifier trained on
//! `../shared/digits_dev`: a row is exactly `quantize --wbits R --abits R --layer-bits
//! NAME=...` on the same images; a layer at the reference width (8, the default, or 16)
//! gives the reference's figures; `plot --kind sensitivity` draws the heat map.

use std::path::Path;

mod common;
use common::{accelsim, digits, digits_model as model};

/// Runs sensitivity with `extra` flags and returns the CSV rows as header-keyed maps.
fn sensitivity(out: &Path, extra: &[&str]) -> Vec<std::collections::HashMap<String, String>> {
    let (m, c, e, y, o) = (
        model(),
        digits("calib_x_nhwc.npy"),
        digits("eval_x_nhwc.npy"),
        digits("eval_y.npy"),
        out.display().to_string(),
    );
    let mut a = vec!["sensitivity", "--model", &m, "--calib", &c, "--eval", &e, "--labels", &y, "--out", &o];
    a.extend_from_slice(extra);
    let (ok, _, se) = accelsim(&a);
    assert!(ok, "sensitivity {extra:?}: {se}");
    let mut r = csv::Reader::from_path(out).expect("csv");
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records().map(|rec| h.iter().cloned().zip(rec.unwrap().iter().map(String::from)).collect()).collect()
}

fn num(row: &std::collections::HashMap<String, String>, k: &str) -> f64 {
    row[k].parse().unwrap_or_else(|_| panic!("{k} = {:?}", row[k]))
}

#[test]
fn a_row_is_quantize_with_that_one_layer_override() {
    let dir = tempfile::tempdir().unwrap();
    let rows = sensitivity(&dir.path().join("s.csv"), &["--bits", "3,8", "--what", "both", "--reference-bits", "16"]);
    // 5 layers with weights (conv, depthwise, pointwise, conv, dense) x 2 widths.
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|r| r["reference"] == "w16a16" && r["what"] == "both"));
    for r in rows.iter().filter(|r| ["op1_depthwiseconv2d", "op6_fullyconnected"].contains(&r["layer"].as_str())) {
        let (layer, b) = (&r["layer"], &r["bits"]);
        assert_eq!(r["widths"], format!("w{b}a{b}"));
        let aqm = dir.path().join("q.aqm").display().to_string();
        let lb = format!("{layer}=w{b}a{b}");
        let (m, c, e, y) = (model(), digits("calib_x_nhwc.npy"), digits("eval_x_nhwc.npy"), digits("eval_y.npy"));
        let (ok, so, se) = accelsim(&[
            "quantize",
            "--model",
            &m,
            "--calib",
            &c,
            "--eval",
            &e,
            "--labels",
            &y,
            "--wbits",
            "16",
            "--abits",
            "16",
            "--layer-bits",
            &lb,
            "--out",
            &aqm,
            "--format",
            "json",
        ]);
        assert!(ok, "{se}");
        let q: serde_json::Value = serde_json::from_str(&so).unwrap();
        // JSON numbers are read back within an ulp or so; the CSV's exactly.
        let close =
            |a: f64, b: f64, what: &str| assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{lb} {what}: {a} vs {b}");
        close(num(r, "output_sqnr_db"), q["output"]["sqnr_db"].as_f64().unwrap(), "output SQNR");
        close(num(r, "top1_agreement"), q["output"]["top1_agreement"].as_f64().unwrap(), "agreement");
        close(num(r, "top1_accuracy"), q["output"]["top1_accuracy"].as_f64().unwrap(), "top-1");
        let own = q["layers"].as_array().unwrap().iter().find(|l| l["name"] == layer.as_str()).unwrap();
        close(num(r, "layer_sqnr_db"), own["sqnr_db"].as_f64().unwrap(), "layer SQNR");
        close(num(r, "float_top1_accuracy"), q["float"]["top1_accuracy"].as_f64().unwrap(), "float top-1");
    }
}

#[test]
fn a_layer_at_the_reference_width_is_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    for (what, reference) in [("weights", "16"), ("activations", "8")] {
        let rows = sensitivity(
            &dir.path().join("s.csv"),
            &["--bits", &format!("2,{reference}"), "--what", what, "--reference-bits", reference],
        );
        assert!(rows.iter().all(|r| r["reference"] == format!("w{reference}a{reference}")));
        let same: Vec<_> = rows.iter().filter(|r| r["bits"] == reference).collect();
        assert_eq!(same.len(), 5);
        for r in same {
            // Exactly (the same text): the same integer graph, scored the same way.
            assert_eq!(r["output_sqnr_db"], r["reference_output_sqnr_db"], "{what} {r:?}");
            assert_eq!(r["top1_agreement"], r["reference_top1_agreement"]);
            assert_eq!(r["top1_accuracy"], r["reference_top1_accuracy"]);
        }
        // At 2 bits some layer moves the output.
        assert!(rows.iter().any(|r| r["bits"] == "2" && r["output_sqnr_db"] != r["reference_output_sqnr_db"]));
    }
}

#[test]
fn plot_draws_the_heat_map_of_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("s.csv");
    let rows = sensitivity(&csv, &["--bits", "2,4"]);
    let svg = dir.path().join("s.svg");
    let (ok, _, se) =
        accelsim(&["plot", "--kind", "sensitivity", "--input", csv.to_str().unwrap(), "--out", svg.to_str().unwrap()]);
    assert!(ok, "{se}");
    let text = std::fs::read_to_string(&svg).unwrap();
    // Every layer name and every cell's value (one decimal) is written.
    for r in &rows {
        assert!(text.contains(&format!("\n{}\n</text>", r["layer"])), "layer {}", r["layer"]);
        let cell = format!("{:.1}", num(r, "output_sqnr_db"));
        assert!(text.contains(&format!("\n{cell}\n</text>")), "cell {cell}");
    }
    let (ok, _, se) = accelsim(&[
        "plot",
        "--kind",
        "sensitivity",
        "--input",
        csv.to_str().unwrap(),
        "--out",
        svg.to_str().unwrap(),
        "--sqnr-column",
        "nope",
    ]);
    assert!(!ok && se.contains("'nope'"), "{se}");
}
