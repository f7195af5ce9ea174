//! Reproducers of the reliability audit (issue 20) through the real binary: outputs never
//! replace inputs or special files, inputs are read with bounds, non-finite data is refused
//! naming the file, plots of absurd values neither panic nor hang, merging needs every shard.
//! Special files and links are made in temporary folders, never the machine's own /dev.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `accelsim ARGS`, killing it after `limit` (a hang is a failure, not a stuck CI).
fn accelsim(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_accelsim"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("accelsim {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// stderr with whitespace runs and miette's wrapping margins (`│`) collapsed.
fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ")
}

fn fails_with(o: &Output, fragment: &str) {
    let e = err(o);
    assert!(!o.status.success(), "expected a failure with '{fragment}', got success");
    assert!(e.contains(fragment), "stderr lacks '{fragment}': {e}");
    assert!(!e.contains("panicked"), "panic: {e}");
}

const SEC: Duration = Duration::from_secs(60);

#[test]
fn an_output_never_replaces_an_input_of_the_same_command() {
    let d = tempfile::tempdir().expect("tempdir");
    let m = d.path().join("m.toml");
    let src = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/models/mnv1.toml")).expect("model");
    std::fs::write(&m, &src).expect("write");
    let o = accelsim(&["run", "--hw", "systolic32", "--model", s(&m), "--no-accuracy", "--out", s(&m)], SEC);
    fails_with(&o, "also the --model input");
    assert_eq!(std::fs::read(&m).expect("read"), src, "the input was modified");
    // Through a symbolic link, too.
    let link = d.path().join("alias.toml");
    std::os::unix::fs::symlink(&m, &link).expect("symlink");
    let o = accelsim(&["run", "--hw", "systolic32", "--model", s(&m), "--no-accuracy", "--out", s(&link)], SEC);
    fails_with(&o, "also the --model input");
    assert_eq!(std::fs::read(&m).expect("read"), src);
}

#[test]
fn outputs_go_through_symlinks_and_fifos_without_replacing_them() {
    let d = tempfile::tempdir().expect("tempdir");
    let real = d.path().join("real.csv");
    std::fs::write(&real, "old").expect("write");
    let link = d.path().join("link.csv");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let o = accelsim(
        &["run", "--hw", "systolic32", "--model", "mnv1", "--no-accuracy", "--format", "csv", "--out", s(&link)],
        SEC,
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(std::fs::symlink_metadata(&link).expect("meta").file_type().is_symlink());
    assert!(std::fs::read_to_string(&real).expect("read").starts_with("name,op,"));
    let fifo = d.path().join("fifo");
    if Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
        let reader = {
            let f = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(f).expect("read fifo"))
        };
        let o = accelsim(
            &["run", "--hw", "systolic32", "--model", "mnv1", "--no-accuracy", "--format", "csv", "--out", s(&fifo)],
            SEC,
        );
        assert!(o.status.success(), "{}", err(&o));
        assert!(reader.join().expect("reader").starts_with("name,op,"));
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(&fifo).expect("meta").file_type().is_fifo(), "the FIFO was replaced");
    }
    let names: Vec<String> = std::fs::read_dir(d.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".accelsim-")), "leftover temporary file: {names:?}");
}

#[test]
fn an_endless_exec_input_is_refused_without_reading_it_all() {
    let d = tempfile::tempdir().expect("tempdir");
    let fifo = d.path().join("endless");
    if !Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
        return;
    }
    // A writer that never stops (like /dev/zero) until the reader goes away.
    let writer = {
        let f = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut w = std::fs::OpenOptions::new().write(true).open(f).expect("open fifo");
            let block = vec![0u8; 1 << 16];
            while w.write_all(&block).is_ok() {}
        })
    };
    let model = shared().join("tflite/models/tiny_int8.tflite");
    let out = d.path().join("out.bin");
    let o = accelsim(&["exec", "--model", s(&model), "--input", s(&fifo), "--output", s(&out)], SEC);
    fails_with(&o, &format!("--input {}", fifo.display()));
    assert!(err(&o).contains("more than"), "{}", err(&o));
    assert!(!out.exists());
    writer.join().expect("writer stops when the reader is gone");
}

#[test]
fn quantize_refuses_non_finite_calibration_data_naming_the_file_and_index() {
    let d = tempfile::tempdir().expect("tempdir");
    let src = std::fs::read(shared().join("onnx/data/small_resnet2_calib_nchw.npy")).expect("calib");
    let mut bad = src.clone();
    // The last value of the data section.
    let n = bad.len();
    bad[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    let calib = d.path().join("nan.npy");
    std::fs::write(&calib, &bad).expect("write");
    let out = d.path().join("q.aqm");
    let model = shared().join("onnx/models/small_resnet2_float.onnx");
    let o = accelsim(&["quantize", "--model", s(&model), "--calib", s(&calib), "--out", s(&out)], SEC);
    fails_with(&o, "nan.npy");
    assert!(err(&o).contains("is not finite"), "{}", err(&o));
    assert!(!out.exists(), "a broken model was written");
}

#[test]
fn merge_of_shards_0_and_2_of_3_names_the_missing_points() {
    let d = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for i in [0, 2] {
        let f = d.path().join(format!("s{i}.csv"));
        let o = accelsim(
            &[
                "sweep",
                "--hw",
                "systolic32",
                "--model",
                "mnv1",
                "--wbits",
                "4,6,8",
                "--shard",
                &format!("{i}/3"),
                "--out",
                s(&f),
            ],
            SEC,
        );
        assert!(o.status.success(), "{}", err(&o));
        files.push(f);
    }
    let o = accelsim(&["merge", s(&files[0]), s(&files[1])], SEC);
    fails_with(&o, "points 1..=1 are missing");
    assert!(err(&o).contains("a shard was not given"));
}

/// A sweep CSV with per-layer rows, whose column `col` is replaced by `value` in rows
/// selected by `layers` (layer rows) or totals.
fn doctored_sweep(dir: &Path, col: &str, value: &str, layers: bool) -> PathBuf {
    let f = dir.join("sweep.csv");
    let o = accelsim(
        &[
            "sweep",
            "--hw",
            "systolic32",
            "--hw",
            "mac8",
            "--model",
            "mnv1",
            "--wbits",
            "4,8",
            "--per-layer",
            "--out",
            s(&f),
        ],
        SEC,
    );
    assert!(o.status.success(), "{}", err(&o));
    let text = std::fs::read_to_string(&f).expect("csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let c = header.iter().position(|h| *h == col).expect("column");
    let l = header.iter().position(|h| *h == "layer").expect("layer column");
    let mut out = header.join(",") + "\n";
    for line in lines {
        let mut cells: Vec<&str> = line.split(',').collect();
        if (cells[l] != "TOTAL") == layers {
            cells[c] = value;
        }
        out += &(cells.join(",") + "\n");
    }
    let bad = dir.join(format!("bad_{col}_{value}.csv"));
    std::fs::write(&bad, out).expect("write");
    bad
}

#[test]
fn plots_of_absurd_values_neither_panic_nor_hang() {
    let d = tempfile::tempdir().expect("tempdir");
    for v in ["NaN", "inf", "-inf", "1e308", "1e-300"] {
        let input = doctored_sweep(d.path(), "energy_pj", v, false);
        let o = accelsim(&["plot", "--kind", "pareto", "--input", s(&input), "--out", s(&d.path().join("p.svg"))], SEC);
        assert!(!err(&o).contains("panicked"), "pareto with energy {v}: {}", err(&o));
        for kind in ["roofline", "per-layer"] {
            let input = doctored_sweep(d.path(), "macs", v, true);
            let o = accelsim(&["plot", "--kind", kind, "--input", s(&input), "--out", s(&d.path().join("r.svg"))], SEC);
            assert!(!err(&o).contains("panicked"), "{kind} with macs {v}: {}", err(&o));
        }
    }
}

#[test]
fn an_interrupted_sweep_resumes_to_the_same_bytes() {
    let d = tempfile::tempdir().expect("tempdir");
    let full = d.path().join("full.csv");
    let args =
        ["sweep", "--hw", "systolic32", "--model", "mnv1", "--wbits", "2,3,4,5,6,7,8", "--set", "mac.rows=8,16,32"];
    let with_out = |out: &Path, extra: &[&str]| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend_from_slice(&["--threads", "1", "--out", s(out)]);
        a.extend_from_slice(extra);
        accelsim(&a, SEC)
    };
    let o = with_out(&full, &[]);
    assert!(o.status.success(), "{}", err(&o));
    let whole = std::fs::read_to_string(&full).expect("csv");
    // Cut in the middle of a row, as a kill would.
    let partial = d.path().join("partial.csv");
    std::fs::write(&partial, &whole[..whole.len() * 2 / 3]).expect("write");
    let o = with_out(&partial, &["--resume"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).contains("resuming at point"), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(&partial).expect("csv"), whole);
    // A partial output of another sweep is refused, not appended to.
    let other = d.path().join("other.csv");
    std::fs::write(&other, "point,hw\n0,x\n").expect("write");
    let o = with_out(&other, &["--resume"]);
    fails_with(&o, "its columns (point,hw) are not this");
    assert_eq!(std::fs::read_to_string(&other).expect("csv"), "point,hw\n0,x\n");
}

/// A `.aqm` of bn_conv_tiny (data-free), as `serde_json::Value`, and its path.
fn tiny_aqm(dir: &Path) -> (PathBuf, serde_json::Value) {
    let out = dir.join("tiny.aqm");
    let model = shared().join("onnx/models/bn_conv_tiny.onnx");
    let o = accelsim(&["quantize", "--model", s(&model), "--data-free", "--out", s(&out)], SEC);
    assert!(o.status.success(), "{}", err(&o));
    let v = serde_json::from_slice(&std::fs::read(&out).expect("aqm")).expect("json");
    (out, v)
}

#[test]
fn unusable_quantization_parameters_are_refused_at_load_naming_the_file() {
    let d = tempfile::tempdir().expect("tempdir");
    let (_, v) = tiny_aqm(d.path());
    let quantized = v["tensors"]
        .as_array()
        .expect("tensors")
        .iter()
        .position(|t| t["quant"].is_object() && t["dtype"] == "i8")
        .expect("a quantized int8 tensor");
    let cases: [(&str, serde_json::Value, &str); 4] = [
        ("scales", serde_json::json!([-0.5]), "expected a finite positive number"),
        ("scales", serde_json::json!([0.0]), "expected a finite positive number"),
        ("zero_points", serde_json::json!([300]), "expected -128..=127"),
        ("zero_points", serde_json::json!([-9223372036854775807i64]), "expected -128..=127"),
    ];
    for (field, value, fragment) in cases {
        let mut bad = v.clone();
        let q = &mut bad["tensors"][quantized]["quant"];
        let n = q["scales"].as_array().map_or(1, Vec::len);
        q[field] = if n == 1 { value } else { serde_json::json!(vec![value[0].clone(); n]) };
        let f = d.path().join("bad.aqm");
        std::fs::write(&f, serde_json::to_vec(&bad).expect("json")).expect("write");
        for cmd in [
            vec!["run", "--hw", "systolic32", "--model", s(&f)],
            vec!["exec", "--model", s(&f), "--input", s(&f), "--output", s(&d.path().join("o.bin"))],
        ] {
            let o = accelsim(&cmd, SEC);
            fails_with(&o, fragment);
            assert!(err(&o).contains("bad.aqm"), "{}", err(&o));
        }
    }
}

/// Finding 3: a `.tflite` whose scales cannot quantize (negative, zero, NaN) is refused at
/// load, naming the file; a huge finite one (1e19) is refused where it would overflow the
/// fixed-point rescale, instead of wrapping to a wrong answer with exit 0.
#[test]
fn tflite_scales_that_cannot_quantize_are_refused_naming_the_file() {
    let d = tempfile::tempdir().expect("tempdir");
    let model = shared().join("tflite/models/tiny_int8.tflite");
    let input = shared().join("tflite/golden/tiny_int8/input_0.bin");
    let src = std::fs::read(&model).expect("model");
    let g = accelsim::import::tflite::import_tflite(&model).expect("imports").graph;
    // Every scale of the file that occurs once in it, so patching its bytes changes that scale.
    let scales: Vec<f32> = g.tensors.iter().filter_map(|t| t.quant.as_ref()).flat_map(|q| q.scales.clone()).collect();
    let at = |v: f32| -> Vec<usize> {
        src.windows(4).enumerate().filter(|(_, w)| *w == v.to_le_bytes()).map(|(i, _)| i).collect()
    };
    let input_scale = g.tensor(g.inputs[0]).quant.as_ref().expect("quantized input").scales[0];
    let [offset] = at(input_scale)[..] else { panic!("the input scale {input_scale} is not unique in the file") };
    assert!(scales.len() > 1);
    let bad = d.path().join("bad.tflite");
    let out = d.path().join("out.bin");
    for (value, fragment) in [
        (-input_scale, "expected a finite positive number"),
        (0.0, "expected a finite positive number"),
        (f32::NAN, "expected a finite positive number"),
    ] {
        let mut b = src.clone();
        b[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
        std::fs::write(&bad, &b).expect("write");
        for cmd in [
            vec!["run", "--hw", "systolic32", "--model", s(&bad)],
            vec!["exec", "--model", s(&bad), "--input", s(&input), "--output", s(&out)],
        ] {
            let o = accelsim(&cmd, SEC);
            fails_with(&o, fragment);
            assert!(err(&o).contains("bad.tflite"), "{}", err(&o));
            assert!(!out.exists(), "an output was written");
        }
    }
    let mut b = src.clone();
    b[offset..offset + 4].copy_from_slice(&1e19f32.to_le_bytes());
    std::fs::write(&bad, &b).expect("write");
    // Finite but huge: the rescale it implies is refused before any output is written.
    let o = accelsim(&["exec", "--model", s(&bad), "--input", s(&input), "--output", s(&out)], SEC);
    fails_with(&o, "is outside what integer kernels can apply");
    assert!(!out.exists(), "an output was written");
}

/// Finding 8: `run` on a large network with real weights does not run its accuracy
/// simulation unasked (39 G MACs and 1 GiB of values took minutes and 8 GB before): the
/// report says why and how to ask for it, in the time the cost model takes.
#[test]
fn run_skips_an_unasked_accuracy_run_of_a_large_network() {
    let d = tempfile::tempdir().expect("tempdir");
    let toml = d.path().join("bigconv.toml");
    std::fs::write(
        &toml,
        "name = \"bigconv\"\ninput = { name = \"input\", shape = [1, 2048, 2048, 3] }\n\n[[layer]]\nname = \"conv\"\n\
         op = \"conv2d\"\nfilters = 64\nkernel = 7\nstride = 1\npadding = \"same\"\nactivation = \"relu\"\n",
    )
    .expect("write");
    let aqm = d.path().join("big.aqm");
    let o = accelsim(&["quantize", "--model", s(&toml), "--data-free", "--out", s(&aqm)], SEC);
    assert!(o.status.success(), "{}", err(&o));
    let start = Instant::now();
    let o = accelsim(&["run", "--hw", "systolic32", "--model", s(&aqm), "--format", "json"], SEC);
    assert!(o.status.success(), "{}", err(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("accuracy (SQNR) not evaluated") && out.contains("give --input"), "{out}");
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
}

/// Finding 4: a float model with a NaN weight is refused by `quantize` (naming the file and
/// the tensor, writing nothing) and fails its points in `sweep --functional` instead of
/// reporting a meaningless SQNR.
#[test]
fn non_finite_weights_are_refused_by_quantize_and_functional_sweeps() {
    let d = tempfile::tempdir().expect("tempdir");
    let model = shared().join("onnx/models/small_resnet2_float32.tflite");
    let src = std::fs::read(&model).expect("model");
    let g = accelsim::import::tflite::import_tflite(&model).expect("imports").graph;
    // A weight value whose bytes occur once in the file: patching them changes that weight.
    let value = g
        .tensors
        .iter()
        .filter(|t| t.kind == accelsim::ir::TensorKind::Weight)
        .filter_map(|t| match &t.data {
            Some(accelsim::ir::TensorData::F32(v)) => Some(v.clone()),
            _ => None,
        })
        .flatten()
        .find(|v| src.windows(4).filter(|w| *w == v.to_le_bytes()).count() == 1)
        .expect("a weight stored once");
    let at = src.windows(4).position(|w| w == value.to_le_bytes()).expect("found");
    let mut bad = src.clone();
    bad[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let f = d.path().join("nan_weight.tflite");
    std::fs::write(&f, &bad).expect("write");
    let out = d.path().join("q.aqm");
    let o = accelsim(&["quantize", "--model", s(&f), "--data-free", "--out", s(&out)], SEC);
    fails_with(&o, "nan_weight.tflite");
    assert!(err(&o).contains("expected finite values"), "{}", err(&o));
    assert!(!out.exists(), "a broken model was written");
    let o = accelsim(&["sweep", "--hw", "systolic32", "--model", s(&f), "--functional"], SEC);
    fails_with(&o, "expected finite values");
    assert!(!String::from_utf8_lossy(&o.stdout).contains(",0.005"), "a meaningless SQNR was reported");
}

/// Finding 5: sizes are checked before any allocation: `quantize` of a model TOML whose
/// kernel would take 100 GB, and `sweep --width 65535 --functional` (35 TB of activations),
/// fail at once with the limit, without aborting or losing the sweep's output.
#[test]
fn huge_kernels_and_widths_fail_before_allocating() {
    let d = tempfile::tempdir().expect("tempdir");
    let toml = d.path().join("hugek.toml");
    std::fs::write(
        &toml,
        "name = \"hugek\"\ninput = { name = \"input\", shape = [1, 300, 300, 3] }\n\n[[layer]]\nname = \"conv\"\n\
         op = \"conv2d\"\nfilters = 100000\nkernel = 300\nstride = 1\npadding = \"valid\"\n",
    )
    .expect("write");
    let out = d.path().join("q.aqm");
    for extra in [&["--data-free"][..], &[]] {
        let mut args = vec!["quantize", "--model", s(&toml), "--out", s(&out)];
        args.extend_from_slice(extra);
        let o = accelsim(&args, SEC);
        fails_with(&o, "its values pass 4 GiB");
        assert!(!out.exists());
    }
    let csv = d.path().join("sweep.csv");
    let o = accelsim(
        &["sweep", "--hw", "systolic32", "--model", "mnv1", "--width", "65535", "--functional", "--out", s(&csv)],
        SEC,
    );
    fails_with(&o, "too large to execute");
    let text = std::fs::read_to_string(&csv).expect("the sweep's rows were written");
    assert!(text.lines().count() == 2 && text.contains("too large to execute"), "{text}");
}
