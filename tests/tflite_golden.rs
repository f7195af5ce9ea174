//! Golden tests: every model in `../shared/tflite/golden/` runs bit-exactly like LiteRT's
//! reference kernels, on every sample and every intermediate tensor; the float32 models
//! match LiteRT's float outputs within a tight tolerance.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use accelsim::import::tflite::{import_tflite, TfliteModel};
use accelsim::kernels::{self, Arithmetic, Executor, Values};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tflite")
}

/// A numpy array read from an .npy entry, widened.
#[derive(Debug)]
enum Npy {
    Int(Vec<i32>),
    F32(Vec<f32>),
}

fn parse_npy(bytes: &[u8]) -> Npy {
    match common::npy_values(&common::parse_npy(bytes)) {
        Values::Int(v) => Npy::Int(v),
        Values::I8(v) => Npy::Int(v.into_iter().map(i32::from).collect()),
        Values::F32(v) => Npy::F32(v),
    }
}

fn read_npz(path: &Path) -> BTreeMap<usize, Npy> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut z = zip::ZipArchive::new(f).expect("zip");
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut e = z.by_index(i).expect("entry");
        let name = e.name().to_string();
        let idx: usize = name.trim_start_matches('t').trim_end_matches(".npy").parse().expect("tNNNN key");
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).expect("read");
        out.insert(idx, parse_npy(&buf));
    }
    out
}

fn read_raw(path: &Path, dtype: &str) -> Values {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match dtype {
        "int8" => Values::Int(b.iter().map(|&v| v as i8 as i32).collect()),
        "int16" => Values::Int(b.chunks_exact(2).map(|v| i16::from_le_bytes([v[0], v[1]]) as i32).collect()),
        "float32" => Values::F32(b.chunks_exact(4).map(|v| f32::from_le_bytes([v[0], v[1], v[2], v[3]])).collect()),
        other => panic!("unsupported dtype {other}"),
    }
}

struct Outcome {
    samples: usize,
    tensors: usize,
    elements: usize,
    mismatches: Vec<String>,
}

fn check_model(name: &str) -> Outcome {
    let dir = root().join("golden").join(name);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest")).expect("json");
    let model_path = dir.join(manifest["model"].as_str().expect("model"));
    let model: TfliteModel = import_tflite(&model_path).expect("import");
    let exec = Executor::new(&model.graph, Arithmetic::default()).expect("executor");
    let mut o = Outcome { samples: 0, tensors: 0, elements: 0, mismatches: vec![] };
    for (k, s) in manifest["samples"].as_array().expect("samples").iter().enumerate() {
        let inputs: Vec<Values> = s["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(|i| read_raw(&dir.join(i["file"].as_str().expect("file")), i["dtype"].as_str().expect("dtype")))
            .collect();
        let vals = exec.run(&inputs).expect("run");
        // A run that drops each tensor after its last reader gives the same outputs (the
        // residual model's skip tensors live across several layers).
        let outputs = exec.run_outputs(inputs.clone()).expect("run_outputs");
        let want: Vec<Option<Values>> =
            model.graph.outputs.iter().map(|o| kernels::value_of(&vals, *o).cloned()).collect();
        assert_eq!(outputs, want, "{name}: run_outputs differs from run");
        o.samples += 1;
        let mut expected: BTreeMap<usize, Npy> = BTreeMap::new();
        for out in s["outputs"].as_array().expect("outputs") {
            let idx = out["index"].as_u64().expect("index") as usize;
            let v = match read_raw(&dir.join(out["file"].as_str().expect("file")), out["dtype"].as_str().expect("dt")) {
                Values::Int(v) => Npy::Int(v),
                Values::I8(v) => Npy::Int(v.into_iter().map(i32::from).collect()),
                Values::F32(v) => Npy::F32(v),
            };
            expected.insert(idx, v);
        }
        let npz = dir.join(format!("intermediates_{k}.npz"));
        if npz.exists() {
            expected.extend(read_npz(&npz));
        }
        for (idx, want) in &expected {
            let id = model.tensor(*idx).expect("tensor index");
            let got = kernels::value_of(&vals, id);
            o.tensors += 1;
            match (want, got) {
                (Npy::Int(w), Some(Values::Int(g))) => {
                    o.elements += w.len();
                    let diff = w.iter().zip(g).filter(|(a, b)| a != b).count();
                    if diff > 0 || w.len() != g.len() {
                        let maxd = w.iter().zip(g).map(|(a, b)| (a - b).abs()).max().unwrap_or(0);
                        o.mismatches.push(format!(
                            "{name} sample {k} t{idx:04} ('{}', layer producing it: {:?}): {diff}/{} differ, max |d| = {maxd}",
                            model.graph.tensor(id).name,
                            model.graph.layers.iter().find(|l| l.outputs[0] == id).map(|l| l.name.clone()),
                            w.len()
                        ));
                    }
                }
                (Npy::F32(w), Some(Values::F32(g))) => {
                    o.elements += w.len();
                    if w != g {
                        o.mismatches.push(format!("{name} sample {k} t{idx:04}: float values differ"));
                    }
                }
                (_, got) => o.mismatches.push(format!("{name} sample {k} t{idx:04}: got {:?}", got.map(|v| v.len()))),
            }
        }
    }
    o
}

fn assert_model(name: &str) {
    let o = check_model(name);
    eprintln!(
        "{name}: {} samples, {} tensors, {} elements compared, {} mismatching tensors",
        o.samples,
        o.tensors,
        o.elements,
        o.mismatches.len()
    );
    assert!(o.mismatches.is_empty(), "{}", o.mismatches.join("\n"));
    assert!(o.samples >= 3 && o.tensors > 0);
}

#[test]
fn tiny_int8_is_bit_exact() {
    assert_model("tiny_int8");
}

#[test]
fn tiny_16x8_is_bit_exact() {
    assert_model("tiny_16x8");
}

#[test]
fn small_resnet_int8_is_bit_exact() {
    assert_model("small_resnet_int8");
}

#[test]
fn mobilenet_v1_int8_is_bit_exact() {
    assert_model("mobilenet_v1_int8");
}

/// Float32 models against LiteRT's float outputs for the dequantized golden inputs.
fn check_float(name: &str) {
    let dir = root().join("golden").join(name);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest")).expect("json");
    let model = import_tflite(dir.join(manifest["float_model"].as_str().expect("float_model"))).expect("import");
    for s in manifest["samples"].as_array().expect("samples") {
        let inputs: Vec<Vec<f32>> = s["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(|i| {
                let (scale, zp) = (i["scale"].as_f64().expect("scale"), i["zero_point"].as_i64().expect("zp"));
                match read_raw(&dir.join(i["file"].as_str().expect("file")), i["dtype"].as_str().expect("dt")) {
                    Values::Int(v) => v.iter().map(|&q| ((q as i64 - zp) as f64 * scale) as f32).collect(),
                    Values::I8(v) => v.iter().map(|&q| ((q as i64 - zp) as f64 * scale) as f32).collect(),
                    Values::F32(v) => v,
                }
            })
            .collect();
        let vals = kernels::run_float(&model.graph, &inputs).expect("float run");
        for (out, fo) in model.graph.outputs.iter().zip(s["float_outputs"].as_array().expect("float_outputs")) {
            let Values::F32(want) = read_raw(&dir.join(fo["file"].as_str().expect("file")), "float32") else {
                unreachable!()
            };
            let Some(Values::F32(got)) = kernels::value_of(&vals, *out) else { panic!("no float output") };
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            let maxd = want.iter().zip(got).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            eprintln!("{name} float: max |d| = {maxd:e} (output range {scale})");
            assert!(maxd <= 1e-5 * scale.max(1.0), "{name}: float output differs by {maxd}");
        }
    }
}

#[test]
fn float_models_match_litert() {
    for name in ["tiny_int8", "small_resnet_int8", "mobilenet_v1_int8"] {
        check_float(name);
    }
}
