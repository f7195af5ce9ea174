//! LiteRT's hybrid layers (dynamic-range quantization: dynamic int8 activations against int8
//! weights, per token for a fully connected layer, per image for a convolution) in the cost
//! model: they run in the 8x8 mode with their float input and output moved at 32 bits and
//! their int8 weights at 8, the inputs' quantization on the vector unit, said in the notes.
//! Their execution is bit for bit LiteRT's (`tests/op_goldens.rs`, `fc_hybrid*_hybrid`,
//! `conv_hybrid*_hybrid`, `dwconv_hybrid*_hybrid`, `conv_hybrid_pt*_hybrid_pt`).

use std::path::PathBuf;

mod common;
use common::{accelsim, digits, npy_labels, npy_values, read_f32, read_npy};

#[test]
fn a_hybrid_layer_is_costed_as_int8_macs_behind_a_per_token_quantization() {
    let m = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops/fc_hybrid_hybrid.tflite");
    for hw in ["mac8", "dsp", "nvdla_full"] {
        let (ok, so, se) = accelsim(&["run", "--hw", hw, "--model", m.to_str().unwrap(), "--format", "json"]);
        assert!(ok, "{hw}: {se}");
        let r: serde_json::Value = serde_json::from_str(&so).expect("json");
        let l = &r["layers"][0];
        assert_eq!(l["mode"], "8x8", "{hw}: {l}");
        assert_eq!(l["macs"], 6 * 64 * 48, "{hw}");
        // int8 weights 64 x 48, the float input 6 x 64 and bias 48 at 4 bytes; the output 6 x 48 floats.
        assert_eq!(l["dram_read_bytes"], 64 * 48 + 6 * 64 * 4 + 48 * 4, "{hw}: {l}");
        assert_eq!(l["dram_write_bytes"], 6 * 48 * 4, "{hw}: {l}");
        let notes = r["notes"].as_array().expect("notes");
        assert!(
            notes
                .iter()
                .any(|n| n.as_str().is_some_and(|n| n.contains("dynamic quantization (LiteRT's hybrid layers)"))),
            "{hw}: {notes:?}"
        );
    }
}

/// A hybrid convolution and a hybrid depthwise convolution: int8 MACs in the 8x8 mode, the
/// float input, bias and output at 4 bytes, the per-channel int8 weights at 1.
#[test]
fn a_hybrid_convolution_is_costed_as_int8_macs_behind_a_per_image_quantization() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops");
    // (model, MACs, weights, input, bias and output elements)
    let cases = [
        ("conv_hybrid_hybrid.tflite", 2 * 6 * 6 * 16 * 3 * 3 * 16, 16 * 3 * 3 * 16, 2 * 6 * 6 * 16, 16, 2 * 6 * 6 * 16),
        ("dwconv_hybrid_hybrid.tflite", 3 * 3 * 128 * 3 * 3, 3 * 3 * 128, 5 * 5 * 128, 128, 3 * 3 * 128),
    ];
    for (file, macs, weights, input, bias, output) in cases {
        for hw in ["mac8", "dsp"] {
            let m = dir.join(file);
            let (ok, so, se) = accelsim(&["run", "--hw", hw, "--model", m.to_str().unwrap(), "--format", "json"]);
            assert!(ok, "{file} {hw}: {se}");
            let r: serde_json::Value = serde_json::from_str(&so).expect("json");
            let l = &r["layers"][0];
            assert_eq!(l["mode"], "8x8", "{file} {hw}: {l}");
            assert_eq!(l["macs"], macs, "{file} {hw}");
            assert_eq!(l["dram_read_bytes"], weights + 4 * (input + bias), "{file} {hw}: {l}");
            assert_eq!(l["dram_write_bytes"], 4 * output, "{file} {hw}: {l}");
            let notes = r["notes"].as_array().expect("notes");
            assert!(
                notes.iter().any(|n| n.as_str().is_some_and(|n| n.contains("image by image (convolution)"))),
                "{file} {hw}: {notes:?}"
            );
        }
    }
}

/// LiteRT's other hybrid convolution (`EvalHybrid`: one weight scale, or per-channel scales
/// all equal): each image quantized symmetrically, so no zero point and one rescale per
/// output; executed bit for bit (`conv_hybrid_pt*`, `conv_hybrid_equal_scales` goldens).
#[test]
fn a_per_tensor_hybrid_convolution_quantizes_its_images_symmetrically() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops");
    let note = |file: &str| {
        let m = dir.join(file);
        let (ok, so, se) = accelsim(&["run", "--hw", "mac8", "--model", m.to_str().unwrap(), "--format", "json"]);
        assert!(ok, "{file}: {se}");
        let r: serde_json::Value = serde_json::from_str(&so).expect("json");
        let l = &r["layers"][0];
        assert_eq!(l["mode"], "8x8", "{file}: {l}");
        // int8 weights 16 x 3 x 3 x 16, the float input 2 x 6 x 6 x 16 and bias 16 at 4 bytes.
        assert_eq!(l["dram_read_bytes"], 16 * 3 * 3 * 16 + 4 * (2 * 6 * 6 * 16 + 16), "{file}: {l}");
        let notes = r["notes"].as_array().expect("notes");
        notes
            .iter()
            .filter_map(|n| n.as_str())
            .find(|n| n.contains("image by image (convolution)"))
            .unwrap_or_else(|| panic!("{file}: {notes:?}"))
            .to_string()
    };
    let (pt, pc) = (note("conv_hybrid_pt_hybrid_pt.tflite"), note("conv_hybrid_hybrid.tflite"));
    assert!(pt.contains("1 per output") && !pt.contains("zero points"), "{pt}");
    assert!(pc.contains("2 per output") && pc.contains("zero points"), "{pc}");
}

/// A per-tensor hybrid depthwise convolution has no defined LiteRT result (its kernel reads
/// one weight scale per channel, past the one given): `exec` and `run` refuse it by name.
#[test]
fn a_per_tensor_hybrid_depthwise_convolution_is_refused() {
    let want = ["reads one per", "op0_depthwiseconv2d"];
    let m = refused_by_exec("dwconv_hybrid_pt_hybrid_pt.tflite", 5 * 5 * 128, &want);
    let (ok, _, se) = accelsim(&["run", "--hw", "mac8", "--model", &m, "--no-accuracy"]);
    assert!(!ok && want.iter().all(|w| se.contains(w)), "run: {se}");
}

/// `exec` of `tests/fixtures/undefined/<file>` on `floats` zeros fails saying every one of
/// `want`, and writes no output; returns the model's path.
fn refused_by_exec(file: &str, floats: usize, want: &[&str]) -> String {
    let m = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/undefined").join(file);
    let dir = tempfile::tempdir().unwrap();
    let (x, out) = (dir.path().join("x.bin"), dir.path().join("y.bin"));
    std::fs::write(&x, vec![0u8; floats * 4]).unwrap();
    let (m, x, o) = (m.to_str().unwrap(), x.to_str().unwrap(), out.to_str().unwrap());
    let (ok, _, se) = accelsim(&["exec", "--model", m, "--input", x, "--output", o]);
    assert!(!ok && want.iter().all(|w| se.contains(w)), "exec {file}: {se}");
    assert!(!out.exists(), "{file}");
    m.to_string()
}

/// The float arrays of an `.npz` by name.
fn npz_f32(path: &std::path::Path) -> std::collections::BTreeMap<String, Vec<f32>> {
    use std::io::Read;
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut z = zip::ZipArchive::new(f).expect("zip");
    let mut out = std::collections::BTreeMap::new();
    for i in 0..z.len() {
        let mut e = z.by_index(i).expect("entry");
        let name = e.name().trim_end_matches(".npy").to_string();
        let mut b = Vec::new();
        e.read_to_end(&mut b).expect("read");
        let a = common::parse_npy(&b);
        assert_eq!(a.descr, "<f4", "{name}");
        out.insert(name, a.data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
    }
    out
}

/// ai-edge-quantizer's block-wise int4 (`dynamic_wi4b32_afp32`: blocks of 32 with fp16
/// scales; `scripts/make_int4_goldens.py`), whose block scales LiteRT's reference kernel
/// ignores (13.5 off the float layer), runs accelsim's definition of the layer
/// (`kernels::fc::hybrid_fully_connected`): every output bit for bit what LiteRT's optimized
/// builtin kernel returns, within one float step of its XNNPACK delegate's, and as near the
/// float layer as they are.
#[test]
fn blockwise_int4_runs_as_litert_optimized_kernels() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/blockwise");
    let want = npz_f32(&dir.join("fc_int4_blockwise.npz"));
    let tmp = tempfile::tempdir().unwrap();
    let (x, y) = (tmp.path().join("x.bin"), tmp.path().join("y.bin"));
    std::fs::write(&x, want["in0"].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let m = dir.join("fc_int4_blockwise.tflite");
    let (ok, _, se) = accelsim(&[
        "exec",
        "--model",
        m.to_str().unwrap(),
        "--input",
        x.to_str().unwrap(),
        "--output",
        y.to_str().unwrap(),
    ]);
    assert!(ok, "{se}");
    let got = read_f32(&y);
    assert_eq!(got.len(), 6 * 48);
    assert_eq!(got, want["builtin"], "LiteRT's optimized builtin kernel, bit for bit");
    let off = |r: &[f32]| got.iter().zip(r).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let largest = want["xnnpack"].iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(off(&want["xnnpack"]) <= largest * f32::EPSILON, "XNNPACK: {}", off(&want["xnnpack"]));
    let litert_off_float = want["xnnpack"].iter().zip(&want["float"]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(off(&want["float"]) <= litert_off_float * 1.001, "{} vs LiteRT's {litert_off_float}", off(&want["float"]));
}

/// Weight-only models (`weight_only_wi8_afp32` / `wi4`, executed bit for bit by
/// `tests/op_goldens.rs`): the DEQUANTIZE of the constant is folded, the layer is float, so an
/// integer preset refuses it with the way out, and `--wbits 4 --abits 16` costs it as W4A16;
/// the note names the constant.
#[test]
fn weight_only_layers_run_in_float_and_cost_at_the_widths_asked() {
    let m = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops/fc_int4_weight_only.tflite");
    let m = m.to_str().unwrap();
    let (ok, _, se) = accelsim(&["run", "--hw", "mac8", "--model", m, "--no-accuracy"]);
    assert!(!ok && se.contains("the model keeps this layer in float32"), "{se}");
    let (ok, so, se) = accelsim(&[
        "run",
        "--hw",
        "mac8",
        "--model",
        m,
        "--wbits",
        "4",
        "--abits",
        "16",
        "--no-accuracy",
        "--format",
        "json",
    ]);
    assert!(ok, "{se}");
    let r: serde_json::Value = serde_json::from_str(&so).expect("json");
    let fc = r["layers"].as_array().expect("layers").iter().find(|l| l["op"] == "fc").expect("an fc").clone();
    assert_eq!((fc["widths"].as_str(), fc["mode"].as_str()), (Some("w4a16"), Some("16x16")));
    assert!(r["notes"].to_string().contains("weight-only quantization: the i4 constant"), "{}", r["notes"]);
}

/// ai-edge-quantizer's int4 and int2 per-channel weights (`scripts/make_int4_goldens.py`,
/// executed bit for bit by `tests/op_goldens.rs`) move at 4 and 2 bits into the 8x8 mode;
/// its blockwise int4 is costed by `run` as 4-bit weights in groups of 32 with fp16 scales,
/// each input row quantized with a zero point.
#[test]
fn packed_weights_move_at_their_width_and_blockwise_in_groups() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (file, bits) in [("fc_int4_hybrid.tflite", 4), ("fc_int2_hybrid.tflite", 2)] {
        let m = root.join("ops").join(file);
        let (ok, so, se) = accelsim(&["run", "--hw", "mac8", "--model", m.to_str().unwrap(), "--format", "json"]);
        assert!(ok, "{file}: {se}");
        let r: serde_json::Value = serde_json::from_str(&so).expect("json");
        let l = &r["layers"][0];
        assert_eq!((l["mode"].as_str(), l["widths"].as_str()), (Some("8x8"), Some(format!("w{bits}af32").as_str())));
        // 64 x 48 weights at `bits`, the float input 6 x 64 and bias 48 at 4 bytes.
        assert_eq!(l["dram_read_bytes"], 64 * 48 * bits / 8 + 4 * (6 * 64 + 48), "{file}: {l}");
    }
    let m = root.join("blockwise/fc_int4_blockwise.tflite");
    let (ok, so, se) = accelsim(&["run", "--hw", "mac8", "--model", m.to_str().unwrap(), "--format", "json"]);
    assert!(ok, "{se}");
    let r: serde_json::Value = serde_json::from_str(&so).expect("json");
    let l = &r["layers"][0];
    assert_eq!(
        (l["mode"].as_str(), l["widths"].as_str(), l["weight_group"].as_u64()),
        (Some("8x8"), Some("w4af32g32"), Some(32))
    );
    // 64 x 48 weights at 4 bits, 48 x 2 fp16 block scales, the float input and bias.
    assert_eq!(l["dram_read_bytes"], 64 * 48 / 2 + 48 * 2 * 2 + 4 * (6 * 64 + 48), "{l}");
    let notes = r["notes"].to_string();
    assert!(notes.contains("the scales and zero points stay on chip"), "rows with a zero point: {notes}");
}

/// A dynamic-range model as LiteRT's converter writes it, trained on real data: the digits
/// CNN of `scripts/train_digits.py ... dynamic` (conv3 and the logits hybrid, per-channel
/// int8; the small layers float). `accelsim exec` on the 300 evaluation images gives LiteRT's
/// reference kernels' logits bit for bit, hence its top-1 (292 of 300, the float model's).
#[test]
fn a_dynamic_range_digits_cnn_runs_bit_for_bit_as_litert() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/digits");
    let model = dir.join("digits_cnn_dynamic.tflite");
    let out = tempfile::tempdir().unwrap();
    let logits = out.path().join("logits.bin");
    let eval = digits("eval_x_nhwc.npy");
    let (ok, _, se) =
        accelsim(&["exec", "--model", model.to_str().unwrap(), "--input", &eval, "--output", logits.to_str().unwrap()]);
    assert!(ok, "{se}");
    let got = read_f32(&logits);
    let accelsim::kernels::Values::F32(want) = npy_values(&read_npy(&dir.join("digits_cnn_dynamic_eval_logits.npy")))
    else {
        panic!("float logits")
    };
    assert_eq!(got.len(), 3000);
    let differ = got.iter().zip(&want).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    assert_eq!(differ, 0, "{differ} of 3000 logits differ from LiteRT's");
    let y = npy_labels(&digits("eval_y.npy"));
    let top1 = got
        .chunks(10)
        .zip(&y)
        .filter(|(r, &l)| (0..10).fold(0, |b, k| if r[k] > r[b] { k } else { b }) as i64 == l)
        .count();
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("digits_cnn_dynamic.json")).unwrap()).unwrap();
    assert_eq!(top1, (info["tflite_eval_top1"].as_f64().unwrap() * 300.0).round() as usize);
}
