//! End-to-end: `accelsim sweep`, `merge`, `plot` and `compare` through the real binary.

mod common;

use std::path::Path;

fn accelsim(args: &[&str], dir: &Path) -> (bool, String, String) {
    common::accelsim_in(args, Some(dir))
}

#[test]
fn sweep_shards_merge_plot_and_compare() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let sweep = [
        "sweep",
        "--hw",
        "systolic32",
        "--hw",
        "mac8",
        "--model",
        "mnv1",
        "--wbits",
        "4,8",
        "--set",
        "dram.bandwidth_gbps=5,10",
        "--per-layer",
    ];
    let mut full = sweep.to_vec();
    full.extend(["--out", "full.csv", "--threads", "2"]);
    let (ok, _, err) = accelsim(&full, p);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(p.join("full.csv")).unwrap();
    assert!(text.starts_with("point,hw,model,wbits,abits,dram.bandwidth_gbps,layer_index,layer,"), "{text}");
    let totals = text.lines().filter(|l| l.contains(",TOTAL,")).count();
    assert_eq!(totals, 8);
    // One thread gives the same bytes.
    let mut one = sweep.to_vec();
    one.extend(["--threads", "1"]);
    let (ok, stdout, _) = accelsim(&one, p);
    assert!(ok);
    assert_eq!(stdout, text);
    // Shards merge back to the full output.
    for (i, s) in ["0/3", "1/3", "2/3"].iter().enumerate() {
        let mut a = sweep.to_vec();
        let out = format!("s{i}.csv");
        a.extend(["--shard", s, "--out", &out]);
        let (ok, _, err) = accelsim(&a, p);
        assert!(ok, "{err}");
    }
    let (ok, _, err) = accelsim(&["merge", "s2.csv", "s0.csv", "s1.csv", "--out", "merged.csv"], p);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read_to_string(p.join("merged.csv")).unwrap(), text);
    // Every figure kind renders.
    for kind in ["latency-vs-bits", "energy-breakdown", "per-layer", "roofline", "pareto", "speedup"] {
        let out = format!("{kind}.svg");
        let (ok, _, err) =
            accelsim(&["plot", "--input", "full.csv", "--kind", kind, "--out", &out, "--baseline", "mac8"], p);
        assert!(ok, "{kind}: {err}");
        let svg = std::fs::read_to_string(p.join(&out)).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{kind}");
    }
    let (ok, _, err) = accelsim(&["plot", "--input", "full.csv", "--kind", "pareto", "--out", "p.png", "--png"], p);
    assert!(ok, "{err}");
    assert!(std::fs::read(p.join("p.png")).unwrap().starts_with(b"\x89PNG"));
    // compare
    for (hw, f) in [("systolic32", "a.json"), ("mac8", "b.json")] {
        let (ok, _, err) = accelsim(&["run", "--hw", hw, "--model", "mnv1", "--format", "json", "--out", f], p);
        assert!(ok, "{err}");
    }
    let (ok, md, err) = accelsim(&["compare", "a.json", "b.json"], p);
    assert!(ok, "{err}");
    assert!(md.contains("| Total |") && md.contains("B/A"), "{md}");
    let (ok, tex, _) = accelsim(&["compare", "a.json", "b.json", "--format", "latex"], p);
    assert!(ok && tex.contains("\\toprule"), "{tex}");
}

#[test]
fn failing_points_are_listed_and_do_not_stop_the_sweep() {
    let d = tempfile::tempdir().unwrap();
    let cfg = "hw = [\"systolic32\", \"no_such_hw\"]\nmodel = [\"mnv1\"]\n[set]\n\"mac.rows\" = [0, 16]\n";
    std::fs::write(d.path().join("s.toml"), cfg).unwrap();
    let (ok, out, err) = accelsim(&["sweep", "--config", "s.toml", "--format", "json"], d.path());
    assert!(ok, "{err}");
    assert!(err.contains("3 of 4 design points failed"), "{err}");
    assert!(err.contains("mac.rows must be in"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows[1]["error"].is_null() && rows[1]["cycles"].as_f64().unwrap() > 0.0);
    assert!(rows[0]["error"].as_str().unwrap().contains("mac.rows"));
}

/// `--threads 1` and `--threads 2` give byte-identical CSV and JSON, per-layer rows
/// included, over several networks, presets and failing points (a zero DRAM bandwidth).
#[test]
fn output_is_identical_across_thread_counts() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    for format in ["csv", "json"] {
        let outs: Vec<String> = ["1", "2"]
            .iter()
            .map(|threads| {
                let args = [
                    "sweep",
                    "--hw",
                    "systolic32",
                    "--hw",
                    "nvdla_small",
                    "--model",
                    "mnv1",
                    "--model",
                    "squeezenet",
                    "--wbits",
                    "4,8",
                    "--set",
                    "dram.bandwidth_gbps=0,10",
                    "--per-layer",
                    "--format",
                    format,
                    "--threads",
                    threads,
                ];
                let (ok, stdout, err) = accelsim(&args, p);
                assert!(ok || !stdout.is_empty(), "{format} --threads {threads}: {err}");
                stdout
            })
            .collect();
        assert!(!outs[0].is_empty(), "{format}: no output");
        assert!(outs[0] == outs[1], "{format}: --threads 1 and --threads 2 differ");
    }
}

/// A functional sweep joins the SQNR and top-1 that `accelsim quantize --eval` reports for
/// the same model and widths (ONNX small_resnet2 with its calibration images), whenever the
/// accelerator's accumulators do not overflow (32 bits here, and LiteRT's native 64); 16-bit
/// wrapping accumulators are another functional key and lose the signal. Hardware points
/// that differ only in the array share one evaluation.
#[test]
fn functional_sweep_joins_the_sqnr_quantize_reports() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/onnx");
    let model = shared.join("models/small_resnet2_float.onnx").display().to_string();
    let calib = shared.join("data/small_resnet2_calib_nchw.npy").display().to_string();
    let (ok, out, err) = accelsim(
        &[
            "quantize", "--model", &model, "--calib", &calib, "--eval", &calib, "--wbits", "8", "--abits", "8",
            "--out", "q.aqm", "--format", "json",
        ],
        p,
    );
    assert!(ok, "{err}");
    let q: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (q_sqnr, q_top1) = (q["output"]["sqnr_db"].as_f64().unwrap(), q["output"]["top1_agreement"].as_f64().unwrap());
    let (ok, out, err) = accelsim(
        &[
            "sweep",
            "--hw",
            "systolic32",
            "--model",
            &model,
            "--wbits",
            "8",
            "--set",
            "accumulator_bits=16,32,64",
            "--set",
            "mac.rows=16,32",
            "--functional",
            "--calib",
            &calib,
            "--threads",
            "2",
        ],
        p,
    );
    assert!(ok, "{err}");
    assert!(err.contains("functional evaluations: 3 for 6 design points"), "{err}");
    // The Pareto figure of a functional sweep is energy vs SQNR.
    std::fs::write(p.join("f.csv"), &out).unwrap();
    let (ok, _, err) = accelsim(&["plot", "--input", "f.csv", "--kind", "pareto", "--out", "f.svg"], p);
    assert!(ok, "{err}");
    let svg = std::fs::read_to_string(p.join("f.svg")).unwrap();
    assert!(svg.contains("energy vs SQNR") && svg.contains("SQNR (dB)"), "{svg}");
    let (ok, _, err) = accelsim(
        &["plot", "--input", "f.csv", "--kind", "pareto", "--sqnr-column", "logits_sqnr_db", "--out", "g.svg"],
        p,
    );
    assert!(ok, "{err}");
    let svg = std::fs::read_to_string(p.join("g.svg")).unwrap();
    assert!(svg.contains("SQNR of the logits") && svg.contains("logits SQNR (dB)"), "{svg}");
    let (ok, _, err) =
        accelsim(&["plot", "--input", "f.csv", "--kind", "pareto", "--sqnr-column", "nope", "--out", "h.svg"], p);
    assert!(!ok && err.contains("no column 'nope'"), "{err}");
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (acc, sqnr, top1, inputs) =
        (col("accumulator_bits"), col("sqnr_db"), col("top1_agreement"), col("functional_inputs"));
    let logits = col("logits_sqnr_db");
    let q_logits = q["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"].as_str().is_some_and(|n| n.contains("fc2_1")))
        .and_then(|l| l["sqnr_db"].as_f64())
        .unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 6);
    for row in &rows {
        let s: f64 = row[sqnr].parse().unwrap();
        let t: f64 = row[top1].parse().unwrap();
        assert!(row[inputs].contains("small_resnet2_calib_nchw.npy(50)"), "{:?}", row);
        let lg: f64 = row[logits].parse().unwrap();
        if &row[acc] == "16" {
            assert!(s < q_sqnr - 10.0, "16-bit wrapping accumulators: {s} dB vs {q_sqnr}");
        } else {
            // The CSV rounds to 12 significant digits.
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-11 * b.abs().max(1.0);
            assert!(close(s, q_sqnr) && t == q_top1, "{:?} vs {q_sqnr} {q_top1}", row);
            // The logits column is quantize's SQNR of the layer feeding the softmax (fc2).
            assert!(close(lg, q_logits), "{:?} vs {q_logits}", row);
        }
    }
}

/// Sweep rows split cycles into compute, buffer-port and DRAM-stall cycles that sum to
/// `cycles`, and carry each buffer's traffic, whose sums are the buffer columns.
#[test]
fn sweep_rows_split_cycles_and_list_buffer_traffic() {
    let d = tempfile::tempdir().unwrap();
    let args =
        ["sweep", "--hw", "systolic32", "--hw", "nvdla_full", "--model", "mnv1", "--per-layer", "--out", "s.csv"];
    let (ok, _, err) = accelsim(&args, d.path());
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(d.path().join("s.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap_or_else(|| panic!("no {n} column"));
    let (cy, co, po, st) = (col("cycles"), col("compute_cycles"), col("port_cycles"), col("stall_cycles"));
    let (br, bw, bu) = (col("buffer_read_bytes"), col("buffer_write_bytes"), col("buffers"));
    let mut rows = 0;
    let mut ported = 0;
    for line in lines {
        let c: Vec<&str> = line.split(',').collect();
        let n = |i: usize| c[i].parse::<u64>().unwrap_or_else(|e| panic!("{}: {e} in {line}", header[i]));
        assert_eq!(n(cy), n(co) + n(po) + n(st), "{line}");
        ported += usize::from(n(po) > 0);
        let per: Vec<(u64, u64)> = c[bu]
            .split(';')
            .map(|b| {
                let f: Vec<&str> = b.split(':').collect();
                (f[1].parse().unwrap(), f[2].parse().unwrap())
            })
            .collect();
        assert!(per.len() >= 2, "{line}");
        assert_eq!(per.iter().map(|p| p.0).sum::<u64>(), n(br), "{line}");
        assert_eq!(per.iter().map(|p| p.1).sum::<u64>(), n(bw), "{line}");
        rows += 1;
    }
    assert!(rows > 50, "{rows} rows");
    // systolic32's 32 B/cycle ifmap port binds mnv1's depthwise layers on the OS dataflow.
    assert!(ported > 0, "no row had buffer-port cycles");
}
