//! Malformed inputs through the real binary: every file under `tests/malformed/` (and a few
//! bad command lines) must make `accelsim run` exit non-zero with an error that names the
//! file (and the line where there is one) and says what was expected, never panic, and
//! never leave an `--out` file behind.
//!
//! To add a case, drop a file in `tests/malformed/model/`, `tflite/`, `onnx/` or
//! `scalesim/` (`.csv` topologies) -- run as `--model`, on the `systolic32` preset -- or in
//! `tests/malformed/hw/` or `scalesim/` (`.cfg` configs) -- run as `--hw`, with the `mnv1`
//! network -- and add one row to [`FILES`]: file name, expected stderr fragment, whether a
//! line number is expected. Every file in those folders must have a row. TFLite files also
//! go through `accelsim exec`, which must fail the same way without writing its output.
//! The binary TFLite and ONNX files are written by the ignored `write_malformed_tflite` and
//! `write_malformed_onnx` unit tests of their importers.

use std::path::Path;
use std::process::Command;

/// (file under tests/malformed/, fragment stderr must contain, stderr names a line).
const FILES: &[(&str, &str, bool)] = &[
    // Model files.
    ("model/truncated.toml", "invalid basic string", true),
    ("model/wrong_type.toml", "invalid type", true),
    ("model/zero_filters.toml", "does not fit", true),
    ("model/negative_filters.toml", "invalid value", true),
    ("model/unknown_op.toml", "unknown op 'conv3d'", true),
    ("model/unknown_field.toml", "unknown field `colour`", true),
    ("model/duplicate_layer.toml", "layer name 'c1' is used twice", true),
    ("model/undefined_input.toml", "input 'nowhere' is not defined before this layer", true),
    ("model/cyclic_input.toml", "input 'c2' is not defined before this layer", true),
    ("model/inconsistent_shapes.toml", "adds tensors of shapes", true),
    ("model/one_input_add.toml", "takes two operands, got 1", false),
    ("model/kernel_too_big.toml", "does not fit a 8x8 input", true),
    ("model/bad_groups.toml", "groups = 2", true),
    ("model/zero_dim_input.toml", "input.shape must be NHWC with 4 non-zero dims", false),
    ("model/huge_dims.toml", "layer 'big': too large to cost", false),
    ("model/huge_filters.toml", "layer 'wide': too large to cost", false),
    ("model/zero_grouped_filters.toml", "tensor 'c1/weights' of shape [0, 5, 5, 1] has no elements", false),
    ("model/empty_inputs.toml", "`inputs` is empty; name at least one tensor", true),
    ("model/huge_multiplier.toml", "multiplier = 9223372036854775807 overflows", true),
    ("model/huge_pad.toml", "overflows", true),
    ("model/missing_layers.toml", "missing field `layer`", false),
    ("model/not_toml.toml", "expected", true),
    // Accelerator descriptions.
    ("hw/truncated.toml", "missing field", false),
    ("hw/zero_rows.toml", "mac.rows must be in 1..=65536, got 0", true),
    ("hw/negative_size.toml", "size_kib must be in (0", true),
    ("hw/wrong_type.toml", "invalid type", true),
    ("hw/unknown_field.toml", "unknown field `shape`", true),
    ("hw/unknown_kind.toml", "kind must be \"mac_array\", \"nvdla\", \"dsp\" or \"eyeriss\", got \"gpu\"", true),
    ("hw/zero_bandwidth.toml", "dram.bandwidth_gbps must be in (0", true),
    ("hw/zero_clock.toml", "clock_mhz must be in [1, 100000], got 0", true),
    ("hw/nan_clock.toml", "clock_mhz must be in [1, 100000]", true),
    ("hw/inf_bandwidth.toml", "dram.bandwidth_gbps must be in (0", true),
    ("hw/missing_dram.toml", "unknown field `dramm`", true),
    ("hw/bad_holds.toml", "expected \"inputs\", \"weights\" or \"outputs\"", true),
    ("hw/duplicate_precision.toml", "precision 8x8 is listed twice", true),
    ("hw/tiny_buffer.toml", "too small for any tile", false),
    // TFLite models (also run through `accelsim exec`).
    ("tflite/truncated.tflite", "is not a valid TFLite model", false),
    ("tflite/wrong_magic.tflite", "no 'TFL3' file identifier", false),
    ("tflite/huge_shape.tflite", "[1048576, 1024, 1024, 3] has 216 bytes of data", false),
    ("tflite/negative_dim.tflite", "has a negative dimension [8, -3, 3, 3]", false),
    ("tflite/unknown_op.tflite", "unsupported operator BIDIRECTIONAL_SEQUENCE_LSTM at operator index 0", false),
    (
        "tflite/many_unsupported.tflite",
        "unsupported operator BIDIRECTIONAL_SEQUENCE_LSTM at operator indices 1, 3",
        false,
    ),
    ("tflite/inconsistent_shapes.tflite", "output shape [2, 9, 9, 9] but its inputs give [1, 8, 8, 8]", false),
    ("tflite/bad_tensor_index.tflite", "tensor index 999 out of range", false),
    ("tflite/huge_activation.tflite", "too large to", false),
    ("tflite/fuzz_bad_channel_scales.tflite", "of shape [10, 512] has 8 per-channel scales on dimension 0", false),
    // ONNX models.
    ("onnx/truncated.onnx", "is not a valid ONNX model", false),
    ("onnx/not_onnx.onnx", "is not a valid ONNX model", false),
    ("onnx/huge_shape.onnx", "values for shape [1048576, 1048576, 1024, 3]", false),
    ("onnx/huge_input.onnx", "of shape [1, 3, 1099511627776, 1099511627776] is too large", false),
    ("onnx/negative_dim.onnx", "has a negative dimension -2", false),
    ("onnx/unknown_op.onnx", "unsupported operator Conv3dTranspose at node index 0", false),
    ("onnx/many_unsupported.onnx", "unsupported operator GlobalLpPool at node index 3 ('gap')", false),
    ("onnx/inconsistent_shapes.onnx", "weights have shape [4, 3, 3, 3], expected [4, 3, 3, 5]", false),
    // SCALE-Sim topologies (`--model`) and configs (`--hw`).
    ("scalesim/no_trailing_comma.csv", "row must end with a trailing comma", true),
    ("scalesim/negative_filters.csv", "Num Filter: '-2' is not a positive integer", true),
    ("scalesim/filter_too_big.csv", "filter 3x3 is larger than the 2x8 ifmap", true),
    ("scalesim/wrong_field_count.csv", "row has 7 fields", true),
    ("scalesim/header_only.csv", "no layer rows after the header", false),
    ("scalesim/huge_dims.csv", "layer 'big': too large to cost", false),
    ("scalesim/gemm_overflow.csv", "M: '99999999999999999999' is not a positive integer", true),
    ("scalesim/zero_rows.cfg", "ArrayHeight: expected an integer in 1..=65536, got '0'", true),
    ("scalesim/huge_rows.cfg", "ArrayHeight: expected an integer in 1..=65536", true),
    ("scalesim/bad_dataflow.cfg", "Dataflow: expected os, ws or is (lowercase), got 'WS'", true),
    ("scalesim/missing_dataflow.cfg", "Dataflow is missing", false),
    ("scalesim/no_equals.cfg", "expected 'key = value', got 'Bandwidth ten'", true),
    ("scalesim/bad_section.cfg", "section header must end with ']'", true),
];

/// Bad command lines on valid files: (extra args, file stderr must name, fragment).
const ARGS: &[(&[&str], &str, &str)] = &[
    (
        &["--hw", "systolic32", "--model", "mnv1", "--set", "dram.bandwidth_gbps=0"],
        "systolic32.toml",
        "dram.bandwidth_gbps must be in (0",
    ),
    (&["--hw", "systolic32", "--model", "mnv1", "--set", "clock_mhz=0"], "systolic32.toml", "clock_mhz must be in [1"),
    (
        &["--hw", "systolic32", "--model", "mnv1", "--set", "clock_mhz=inf"],
        "systolic32.toml",
        "clock_mhz must be in [1",
    ),
    (
        &["--hw", "systolic32", "--model", "mnv1", "--set", "clock_mhz=1e-30"],
        "systolic32.toml",
        "clock_mhz must be in [1, 100000], got 0.000000000000000000000000000001",
    ),
    (
        &["--hw", "systolic32", "--model", "mnv1", "--set", "mac.rows=1e300"],
        "systolic32.toml",
        "far outside the range of this integer field",
    ),
    (
        &["--hw", "systolic32", "--model", "mnv1", "--set", "mac.rows=1e18"],
        "systolic32.toml",
        "mac.rows must be in 1..=65536, got 1000000000000000000",
    ),
    (
        &["--hw", "systolic32", "--model", "mnv1", "--set", "mac.rows=0"],
        "systolic32.toml: --set mac.rows=0:",
        "mac.rows must be in 1..=65536, got 0",
    ),
    (
        &["--hw", "systolic32", "--model", "mnv1", "--set", "mac.rows=16", "--set", "dram.bandwidth_gbps=-1"],
        "systolic32.toml: --set dram.bandwidth_gbps=-1:",
        "dram.bandwidth_gbps must be in (0",
    ),
    (&["--hw", "systolic32", "--model", "mnv1", "--set", "buffer.9.size_kib=1"], "systolic32.toml", "no such field"),
    (&["--hw", "systolic32", "--model", "mnv1", "--resolution", "16385"], "mnv1", "resolution must be in 1..=16384"),
    (
        &["--hw", "systolic32", "--model", "vgg16", "--resolution", "64"],
        "vgg16",
        "does not support another input resolution",
    ),
    (&["--hw", "systolic32", "--model", "mnv1", "--width", "0"], "mnv1", "width multiplier must be > 0"),
    (&["--hw", "systolic32", "--model", "mnv1", "--width", "NaN"], "mnv1", "width multiplier must be > 0"),
    (&["--hw", "systolic32", "--model", "mnv1", "--set", "buffer.0.size_kib=0.002"], "mnv1", "too small for any tile"),
];

fn malformed_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/malformed"))
}

/// Runs `accelsim run --format json --out <tmp> <args>`; returns (success, stderr, out existed).
fn run(args: &[&str]) -> (bool, String, bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("report.json");
    let mut a = vec!["run", "--format", "json", "--out", out.to_str().expect("utf8")];
    a.extend_from_slice(args);
    let o = Command::new(env!("CARGO_BIN_EXE_accelsim")).args(&a).output().expect("binary runs");
    let leftovers = std::fs::read_dir(dir.path()).expect("tempdir").count() > 0;
    // miette wraps long messages: compare with whitespace runs collapsed.
    let err = String::from_utf8_lossy(&o.stderr).split_whitespace().collect::<Vec<_>>().join(" ");
    (o.status.success(), err, leftovers)
}

/// One error lists every unsupported operator and tensor type of a model (issue 13 item 3),
/// in the format's own spelling with indices, both through `run` and `exec`.
#[test]
fn every_unsupported_item_is_listed_at_once() {
    let cases: [(&str, &[&str]); 2] = [
        (
            "tflite/many_unsupported.tflite",
            &[
                "3 kinds of unsupported operators or tensor types (all listed):",
                "unsupported tensor type COMPLEX64 in tensor 1 ('arith.constant')",
                "unsupported operator CONV_2D with fused activation TANH at operator index 0",
                "unsupported operator BIDIRECTIONAL_SEQUENCE_LSTM at operator indices 1, 3",
            ],
        ),
        (
            "onnx/many_unsupported.onnx",
            &[
                "3 kinds of unsupported operators or tensor types (all listed):",
                "unsupported tensor type float16 in tensor 'bn_var': constants are float32,",
                "unsupported operator Selu at node index 2 ('relu')",
                "unsupported operator GlobalLpPool at node index 3 ('gap')",
            ],
        ),
    ];
    for (file, lines) in cases {
        let path = malformed_dir().join(file);
        let p = path.to_str().expect("utf8");
        let (ok, err, _) = run(&["--hw", "systolic32", "--model", p]);
        assert!(!ok, "{file}: run exited 0");
        let mut errs = vec![err];
        if file.ends_with(".tflite") {
            errs.push(exec(p).1);
        }
        for err in errs {
            for l in lines {
                assert!(err.contains(l), "{file}: lacks {l:?} in {err}");
            }
            // Nothing else: the RESHAPE / BatchNormalization reading a refused tensor is not
            // listed (it is supported).
            assert_eq!(err.matches("unsupported ").count(), 4, "{file}: {err}");
        }
    }
}

#[test]
fn malformed_files_fail_cleanly() {
    let mut failures = Vec::new();
    for &(file, fragment, has_line) in FILES {
        let path = malformed_dir().join(file);
        let p = path.to_str().expect("utf8");
        let args: Vec<&str> = if file.starts_with("hw/") || file.ends_with(".cfg") {
            vec!["--hw", p, "--model", "mnv1"]
        } else {
            vec!["--hw", "systolic32", "--model", p]
        };
        let (ok, err, leftovers) = run(&args);
        let mut why = Vec::new();
        if ok {
            why.push("exited 0".to_string());
        }
        // Long paths may be broken across lines by miette's wrapping.
        if !err.replace(' ', "").replace('│', "").contains(p) {
            why.push("does not name the file".into());
        }
        if has_line && !line_named(&err, p) {
            why.push("does not name a line".into());
        }
        if !err.contains(fragment) {
            why.push(format!("lacks {fragment:?}"));
        }
        if err.contains("panicked") {
            why.push("panicked".into());
        }
        if leftovers {
            why.push("left a file in the --out directory".into());
        }
        if file.ends_with(".tflite") {
            let (ok, exec_err, leftovers) = exec(p);
            if ok {
                why.push("exec exited 0".into());
            }
            if !exec_err.replace(' ', "").replace('│', "").contains(p) {
                why.push("exec does not name the file".into());
            }
            if !exec_err.contains(fragment) {
                why.push(format!("exec lacks {fragment:?}"));
            }
            if exec_err.contains("panicked") {
                why.push("exec panicked".into());
            }
            if leftovers {
                why.push("exec wrote its output".into());
            }
            if !why.is_empty() {
                why.push(format!("\n--- exec stderr:\n{exec_err}"));
            }
        }
        if !why.is_empty() {
            failures.push(format!("{file}: {}\n--- stderr:\n{err}", why.join(", ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Runs `accelsim exec --model <model>` on a one-byte input; returns (success, stderr,
/// whether the output directory is non-empty).
fn exec(model: &str) -> (bool, String, bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = tempfile::NamedTempFile::new().expect("input");
    std::fs::write(input.path(), [0u8]).expect("input");
    let out = dir.path().join("out.bin");
    let o = Command::new(env!("CARGO_BIN_EXE_accelsim"))
        .args(["exec", "--model", model, "--input", input.path().to_str().expect("utf8")])
        .args(["--output", out.to_str().expect("utf8")])
        .output()
        .expect("binary runs");
    let leftovers = std::fs::read_dir(dir.path()).expect("tempdir").count() > 0;
    // miette draws a border (`│`) down wrapped single-error messages: drop it too.
    let err = String::from_utf8_lossy(&o.stderr).split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ");
    (o.status.success(), err, leftovers)
}

#[test]
fn every_malformed_file_has_a_row() {
    for sub in ["model", "hw", "tflite", "onnx", "scalesim"] {
        for e in std::fs::read_dir(malformed_dir().join(sub)).expect("dir") {
            let name = format!("{sub}/{}", e.expect("entry").file_name().to_string_lossy());
            assert!(FILES.iter().any(|r| r.0 == name), "{name} has no row in FILES");
        }
    }
}

#[test]
fn bad_command_lines_fail_cleanly() {
    for &(args, file, fragment) in ARGS {
        let (ok, err, leftovers) = run(args);
        assert!(!ok, "{args:?} exited 0");
        assert!(err.contains(file) && err.contains(fragment), "{args:?}: stderr lacks {file:?} / {fragment:?}:\n{err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!leftovers, "{args:?} left a file in the --out directory");
    }
}

/// `path:LINE:COL:` with LINE > 0.
fn line_named(err: &str, path: &str) -> bool {
    err.match_indices(&format!("{path}:")).any(|(i, m)| {
        let rest = &err[i + m.len()..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse::<usize>().is_ok_and(|l| l > 0)
    })
}

/// The same command gives byte-identical JSON across runs.
#[test]
fn json_output_is_deterministic() {
    for (hw, model) in [("systolic32", "resnet18"), ("nvdla_small", "mnv2"), ("dsp", "squeezenet")] {
        let outs: Vec<Vec<u8>> = (0..3)
            .map(|_| {
                let o = Command::new(env!("CARGO_BIN_EXE_accelsim"))
                    .args(["run", "--format", "json", "--hw", hw, "--model", model])
                    .output()
                    .expect("binary runs");
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                o.stdout
            })
            .collect();
        assert!(outs.windows(2).all(|w| w[0] == w[1]), "{hw} x {model}: JSON differs between runs");
    }
}
