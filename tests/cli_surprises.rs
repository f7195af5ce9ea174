//! End-to-end: the command line never gives a silently wrong answer (issue 17): paths that
//! do not exist, sweep names and lists, exit codes, output paths, pipes, file modes and the
//! number formats of sweep outputs, all through the real binary.

mod common;

use std::path::Path;

fn accelsim(args: &[&str], dir: &Path) -> (bool, String, String) {
    common::accelsim_in(args, Some(dir))
}

/// miette wraps long messages over lines with a `│` gutter: the words, joined by spaces.
fn words(err: &str) -> String {
    err.split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ")
}

#[test]
fn a_path_that_does_not_exist_is_an_error_not_the_preset() {
    let d = tempfile::tempdir().unwrap();
    for hw in ["/nonexistent/dsp.toml", "./mydesigns/systolic32.toml", "systolic32.toml"] {
        let (ok, out, err) = accelsim(&["run", "--hw", hw, "--model", "mnv1", "--no-accuracy"], d.path());
        let err = words(&err);
        assert!(!ok && out.is_empty(), "{hw}: ran the preset: {out}");
        assert!(err.contains("no such file") && err.contains(hw), "{hw}: {err}");
    }
    let (ok, _, err) = accelsim(&["run", "--hw", "systolic32", "--model", "./nets/mnv1.toml"], d.path());
    assert!(!ok && words(&err).contains("no such file"), "{err}");
    // A preset name still works from any folder.
    let (ok, _, err) = accelsim(&["run", "--hw", "systolic32", "--model", "mnv1", "--no-accuracy"], d.path());
    assert!(ok, "{err}");
}

/// An edited copy of a preset, next to the sweep file, keeps the preset's `name`: it is
/// still found (paths are relative to the sweep file) and named apart from the stock one.
#[test]
fn sweep_files_resolve_paths_and_name_designs_apart() {
    let d = tempfile::tempdir().unwrap();
    let my = d.path().join("my");
    std::fs::create_dir(&my).unwrap();
    let stock = accelsim::hw::presets::source("systolic32").unwrap();
    let edited = stock.replace("rows = 32", "rows = 8");
    assert_ne!(stock, edited, "the preset has `rows = 32`");
    std::fs::write(my.join("systolic32.toml"), edited).unwrap();
    std::fs::write(my.join("s.toml"), "hw = [\"systolic32\", \"systolic32.toml\"]\nmodel = [\"mnv1\"]\n").unwrap();
    let (ok, out, err) = accelsim(&["sweep", "--config", "my/s.toml", "--format", "json"], d.path());
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["hw"], "systolic32");
    assert_eq!(rows[1]["hw"], "my/systolic32.toml");
    assert_ne!(rows[1]["cycles"], rows[0]["cycles"], "the edited copy (8 rows) is costed");
    // Explicit names, one per accelerator.
    let args = ["sweep", "--hw", "systolic32,my/systolic32.toml", "--name", "stock,rows8", "--model", "mnv1"];
    let (ok, out, err) = accelsim(&args, d.path());
    assert!(ok, "{err}");
    assert!(out.contains(",stock,mnv1,") && out.contains(",rows8,mnv1,"), "{out}");
    // The speedup figure shows both designs.
    std::fs::write(d.path().join("two.csv"), &out).unwrap();
    let (ok, _, err) = accelsim(
        &["plot", "--input", "two.csv", "--kind", "speedup", "--baseline", "stock", "--out", "s.svg"],
        d.path(),
    );
    assert!(ok, "{err}");
    let svg = std::fs::read_to_string(d.path().join("s.svg")).unwrap();
    assert!(svg.contains("rows8"), "the edited design is drawn");
}

#[test]
fn lists_take_commas_and_text_fields_sweep() {
    let d = tempfile::tempdir().unwrap();
    let (ok, out, err) = accelsim(
        &["sweep", "--hw", "systolic32,mac8", "--model", "mnv1,squeezenet", "--set", "mac.dataflow=os,ws,is"],
        d.path(),
    );
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 12, "{out}");
    assert!(out.starts_with("point,hw,model,wbits,abits,mac.dataflow,"), "{out}");
    assert!(rows.iter().all(|r| r.ends_with(',')), "no error: {out}");
    let col = out.lines().next().unwrap().split(',').position(|c| c == "cycles").unwrap();
    let cycles = |flow: &str| -> Vec<u64> {
        rows.iter()
            .filter(|r| r.contains(&format!(",{flow},")))
            .map(|r| r.split(',').nth(col).unwrap().parse().unwrap())
            .collect()
    };
    assert_eq!(cycles("os").len(), 4);
    assert_ne!(cycles("os"), cycles("ws"), "the dataflow changes the schedule");
    let (ok, _, err) = accelsim(&["sweep", "--hw", "systolic32", "--model", "mnv1", "--set", "mac.rows=x"], d.path());
    assert!(!ok && words(&err).contains("--set mac.rows=x: field takes a whole number"), "{err}");
}

#[test]
fn a_sweep_with_no_successful_point_fails() {
    let d = tempfile::tempdir().unwrap();
    let (ok, out, err) = accelsim(&["sweep", "--hw", "systolic32", "--model", "mnv1", "--set", "mac.rows=0"], d.path());
    assert!(!ok, "exit 0 with every point failed");
    assert!(out.contains("mac.rows must be in"), "the error rows are still written: {out}");
    assert!(words(&err).contains("no design point succeeded"), "{err}");
}

#[test]
fn output_paths_are_checked_before_the_work() {
    let d = tempfile::tempdir().unwrap();
    let (ok, out, err) =
        accelsim(&["sweep", "--hw", "systolic32", "--model", "mnv1", "--out", "/nonexistent_dir/x.csv"], d.path());
    let err = words(&err);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("/nonexistent_dir") && err.contains("does not exist"), "{err}");
}

/// `accelsim models | head -1`: the reader closes the pipe early; accelsim stops quietly.
#[test]
fn a_closed_pipe_is_not_a_crash() {
    let bin = env!("CARGO_BIN_EXE_accelsim");
    for args in ["models", "hw list", "hw show systolic32", "nvdla-estimate", "sweep --hw systolic32 --model mnv1"] {
        // The reader (`true`) is gone before accelsim writes (it starts after a pause).
        let script = format!("set -o pipefail; (sleep 0.3; exec \"{bin}\" {args}) | true");
        let out = std::process::Command::new("bash").args(["-c", &script]).output().expect("bash");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && !err.contains("panicked"), "{args}: {:?} {err}", out.status);
    }
}

#[test]
fn exec_writes_outputs_readable_like_every_command() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tflite");
    let model = shared.join("models/tiny_int8.tflite");
    let input = shared.join("golden/tiny_int8/input_0.bin");
    let out = d.path().join("out.bin");
    let args = ["exec", "--model", model.to_str().unwrap(), "--input", input.to_str().unwrap()];
    let (ok, _, err) = accelsim(&[&args[..], &["--output", out.to_str().unwrap()]].concat(), d.path());
    assert!(ok, "{err}");
    let (ok, _, err) = accelsim(&["run", "--hw", "mac8", "--model", "mnv1", "--out", "run.txt"], d.path());
    assert!(ok, "{err}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), mode(&d.path().join("run.txt")), "exec and run write files alike");
}

#[test]
fn compare_markdown_is_a_table() {
    let d = tempfile::tempdir().unwrap();
    for (hw, f) in [("systolic32", "a.json"), ("mac8", "b.json")] {
        let args = ["run", "--hw", hw, "--model", "mnv1", "--no-accuracy", "--format", "json", "--out", f];
        let (ok, _, err) = accelsim(&args, d.path());
        assert!(ok, "{err}");
    }
    let (ok, md, err) = accelsim(&["compare", "a.json", "b.json"], d.path());
    assert!(ok, "{err}");
    // GitHub-flavoured Markdown: the delimiter row has as many cells as the header row.
    let cells = |l: &str| l.matches('|').count();
    let lines: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert!(lines.len() > 2, "{md}");
    assert!(lines[1].chars().all(|c| "|-: ".contains(c)), "{md}");
    assert_eq!(cells(lines[1]), cells(lines[0]), "{md}");
    assert!(lines.iter().all(|l| cells(l) == cells(lines[0])), "{md}");
}

#[test]
fn sweep_numbers_are_integers_and_free_of_float_noise() {
    let d = tempfile::tempdir().unwrap();
    let base = ["sweep", "--hw", "systolic32,nvdla_full,dsp", "--model", "mnv1,resnet18", "--wbits", "4,8"];
    let (ok, json, err) = accelsim(&[&base[..], &["--format", "json"]].concat(), d.path());
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for row in v.as_array().unwrap() {
        for key in ["point", "wbits", "abits", "macs", "cycles", "dram_read_bytes", "dram_write_bytes"] {
            assert!(row[key].is_u64(), "{key} is not written as an integer: {row}");
        }
    }
    let (ok, csv, err) = accelsim(&base, d.path());
    assert!(ok, "{err}");
    for cell in csv.lines().flat_map(|l| l.split(',')) {
        let frac = cell.split_once('.').map_or("", |(_, f)| f);
        assert!(!frac.contains("0000000") && !frac.contains("9999999"), "float noise: {cell}");
    }
}

#[test]
fn readme_lists_every_preset_and_how_to_install() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for name in accelsim::hw::presets::names() {
        assert!(readme.contains(&format!("`{name}`")), "README does not list the preset {name}");
    }
    assert!(readme.contains("cargo install --locked --path ."), "README does not say how to install");
}

/// A `.npy` given to a model whose input has a batch larger than 1 built in is refused with
/// what is wrong (it used to ask for `[N, 6, 6, 16]`, the very shape given), and the raw
/// file of the whole tensor runs.
#[test]
fn a_batch_for_an_input_with_a_built_in_batch_says_why_it_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let model =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops/conv_hybrid_hybrid.tflite");
    let model = model.to_str().unwrap();
    let x = vec![0.5f32; 2 * 6 * 6 * 16];
    let npy = d.path().join("x.npy");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let mut header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 6, 6, 16), }".to_string();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(x.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(&npy, bytes).unwrap();
    let (ok, _, err) = accelsim(&["exec", "--model", model, "--input", "x.npy", "--output", "y.bin"], d.path());
    let err = words(&err);
    assert!(!ok && err.contains("has a batch of 2 built in") && err.contains("raw file"), "{err}");
    std::fs::write(d.path().join("x.bin"), x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let (ok, _, err) = accelsim(&["exec", "--model", model, "--input", "x.bin", "--output", "y.bin"], d.path());
    assert!(ok, "{err}");
    assert_eq!(std::fs::metadata(d.path().join("y.bin")).unwrap().len(), 2 * 6 * 6 * 16 * 4);
}
