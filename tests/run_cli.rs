//! End-to-end tests of `accelsim run` (the real binary) and of the cost pipeline over every
//! preset and built-in network.

mod common;
use common::{accelsim, json_run};

use accelsim::hw::{load_hw, presets};
use accelsim::import::{builtin, load_model, LoadOptions};
use accelsim::pipeline::run;
use accelsim::quant::{assign_uniform, Precision};

#[test]
fn readme_command_prints_a_table_with_totals() {
    let (ok, out, err) = accelsim(&["run", "--hw", "accelerators/dsp.toml", "--model", "mnv1"]);
    assert!(ok, "{err}");
    assert!(out.contains("conv13_pw") && out.contains("total:") && out.contains("synthetic"), "{out}");
}

#[test]
fn json_totals_equal_the_sum_of_the_layers() {
    let v = json_run(&["--hw", "systolic32", "--model", "resnet18"]);
    let layers = v["layers"].as_array().expect("layers");
    for key in ["cycles", "macs", "dram_read_bytes", "dram_write_bytes"] {
        let sum: u64 = layers.iter().map(|l| l[key].as_u64().expect(key)).sum();
        assert_eq!(sum, v["totals"][key].as_u64().expect(key), "{key}");
    }
    for key in ["energy_pj", "latency_s"] {
        let sum: f64 = layers.iter().map(|l| l[key].as_f64().expect(key)).sum();
        let tot = v["totals"][key].as_f64().expect(key);
        assert!((sum - tot).abs() <= 1e-9 * tot.abs().max(1.0), "{key}: {sum} vs {tot}");
    }
    for l in layers {
        assert!(l["name"].is_string() && l["op"].is_string());
    }
}

#[test]
fn csv_and_out_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("r.csv");
    let p = path.to_str().expect("utf8");
    let (ok, _, err) = accelsim(&["run", "--hw", "mac8", "--model", "squeezenet", "--format", "csv", "--out", p]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&path).expect("written");
    assert!(text.starts_with("name,op,shape,mode,macs,cycles,compute_cycles"));
    assert!(text.lines().last().is_some_and(|l| l.starts_with("TOTAL,")));
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "no temp file left behind");
}

#[test]
fn bad_input_is_a_clear_error_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o.json");
    let o = out.to_str().expect("utf8");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, presets::source("systolic32").expect("preset").replace("rows = 32", "rows = -4"))
        .expect("write");
    let b = bad.to_str().expect("utf8");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--hw", "dsp", "--model", "mnv1", "--wbits", "0"], "--wbits must be in 2..=16 bits, got 0"),
        (vec!["--hw", "dsp", "--model", "mnv1", "--abits", "33"], "--abits must be in 2..=16 bits, got 33"),
        (vec!["--hw", "dsp", "--model", "mnv9"], "not a built-in network"),
        (vec!["--hw", "tpu", "--model", "mnv1"], "not a preset"),
        (vec!["--hw", b, "--model", "mnv1"], "mac.rows must be in 1..=65536, got -4"),
        (
            vec![
                "--hw",
                "mac4",
                "--model",
                "mnv1",
                "--wbits",
                "16",
                "--abits",
                "16",
                "--set",
                "precision.2.weight_bits=8",
            ],
            "no compute mode",
        ),
        (vec!["--hw", "systolic32", "--model", "mnv1", "--set", "buffer.1.size_kib=0.01"], "too small for any tile"),
    ];
    for (args, expect) in cases {
        let mut a = vec!["run", "--format", "json", "--out", o];
        a.extend_from_slice(&args);
        let (ok, _, err) = accelsim(&a);
        assert!(!ok, "{args:?} should fail");
        assert!(err.contains(expect), "{args:?}: stderr {err:?} lacks {expect:?}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.exists(), "{args:?} left an output file");
    }
    // The TOML error points at the line.
    let (_, _, err) = accelsim(&["run", "--hw", b, "--model", "mnv1"]);
    assert!(err.contains("bad.toml:") && err.contains(":8"), "{err}");
}

/// Every preset x every built-in network x {4, 8, 16} bits runs, or says clearly which
/// precision the preset lacks.
#[test]
fn every_preset_runs_every_network_at_4_8_16_bits() {
    let graphs: Vec<_> =
        builtin::names().iter().map(|n| load_model(n, &LoadOptions::default()).expect("loads")).collect();
    for hw_name in presets::names() {
        let hw = load_hw(hw_name, &[]).expect("preset");
        for g in &graphs {
            for bits in [4u8, 8, 16] {
                let mut g = g.clone();
                assign_uniform(&mut g, Precision { weight_bits: bits, activation_bits: bits }, 32);
                match run(&g, &hw) {
                    Ok(r) => {
                        assert_eq!(r.totals.macs, g.total_macs(), "{hw_name} {}", g.name);
                        assert!(r.totals.cycles.get() > 0 && r.totals.energy.total().get() > 0.0);
                        // Winograd does fewer multiplies than MACs, so its effective
                        // utilization may pass 100%.
                        let winograd = matches!(&hw.family, accelsim::hw::Family::Nvdla(n) if n.winograd);
                        for l in r.layers.iter().filter(|_| !winograd) {
                            assert!(
                                l.utilization <= 1.0 + 1e-9,
                                "{hw_name} {} {}: util {}",
                                g.name,
                                l.name,
                                l.utilization
                            );
                        }
                    }
                    Err(e) => {
                        let m = e.to_string();
                        assert!(bits == 16 && m.contains("no compute mode"), "{hw_name} {} {bits}: {m}", g.name);
                    }
                }
            }
        }
    }
}

/// Per layer, DRAM traffic is at least the compulsory traffic and equals it when the
/// buffers hold everything.
#[test]
fn dram_traffic_is_at_least_compulsory_and_equal_with_huge_buffers() {
    let huge: Vec<(String, f64)> = (0..3).map(|i| (format!("buffer.{i}.size_kib"), 1e6)).collect();
    for hw_name in ["systolic32", "nvdla_full", "dsp"] {
        let n_buf = load_hw(hw_name, &[]).expect("preset").buffers.len();
        for (bw, ba) in [(8u8, 8u8), (4, 8), (3, 5)] {
            let mut g = load_model("mnv2", &LoadOptions::default()).expect("mnv2");
            assign_uniform(&mut g, Precision { weight_bits: bw, activation_bits: ba }, 32);
            // A pass is a layer with the layers fused into it (NVDLA SDP/PDP on the fly): its
            // compulsory traffic is every tensor it touches except those streamed inside it.
            let plan = accelsim::map::fusion::plan(&g, &load_hw(hw_name, &[]).expect("preset"));
            let compulsory: Vec<u64> = (0..g.layers.len())
                .map(|i| {
                    let l = &g.layers[i];
                    let id = accelsim::ir::LayerId(i);
                    if matches!(l.op, accelsim::ir::Op::Layout(accelsim::ir::Layout::Reshape { .. }))
                        || plan.fused_into(id).is_some()
                    {
                        return 0;
                    }
                    let pass: Vec<&accelsim::ir::Layer> =
                        std::iter::once(l).chain(plan.followers(id).iter().map(|&(f, _)| g.layer(f))).collect();
                    let made: Vec<_> = pass.iter().flat_map(|l| l.outputs.iter().copied()).collect();
                    let read: Vec<_> = pass.iter().flat_map(|l| l.inputs.iter().copied()).collect();
                    let inner = |t: &accelsim::ir::TensorId| made.contains(t) && read.contains(t);
                    let bits: u64 =
                        read.iter().chain(&made).filter(|t| !inner(t)).map(|&t| g.tensor(t).bits().get()).sum();
                    bits / 8
                })
                .collect();
            // Every layer's tensors through DRAM (on-chip reuse off): the compulsory traffic
            // is each layer's own.
            let off = |h: accelsim::hw::HwDesc| accelsim::hw::HwDesc { onchip_reuse: false, ..h };
            let normal = run(&g, &off(load_hw(hw_name, &[]).expect("preset"))).expect("runs");
            // Scheduled for energy, which moves the least (the latency objective may re-read
            // operands to hide more of the first load).
            let big_hw = off(load_hw(hw_name, &huge[..n_buf]).expect("preset"));
            let big = accelsim::pipeline::run_for(&g, &big_hw, accelsim::map::tiling::Objective::Energy).expect("runs");
            for ((l, b), c) in normal.layers.iter().zip(&big.layers).zip(&compulsory) {
                let (t, tb) = ((l.dram_read + l.dram_write).get(), (b.dram_read + b.dram_write).get());
                // Packed widths round up per operand: allow a few bytes.
                assert!(t + 4 >= *c, "{hw_name} {}: {t} < compulsory {c}", l.name);
                assert!(tb.abs_diff(*c) <= 4, "{hw_name} {} huge buffers: {tb} vs compulsory {c}", l.name);
            }
        }
    }
}

#[test]
fn models_and_hw_show() {
    let (ok, out, _) = accelsim(&["models"]);
    assert!(ok && out.contains("mnv1") && out.contains("inception_v3"));
    let (ok, out, err) = accelsim(&["hw", "show", "nvdla_full"]);
    assert!(ok, "{err}");
    assert!(out.contains("atomic-C 64 x atomic-K 32") && out.contains("2048 MACs/cycle"), "{out}");
}

/// An imported 16x8 model is costed at its own widths unless the user asks for others.
#[test]
fn imported_quantized_models_keep_their_widths() {
    let m = "../shared/tflite/models/tiny_16x8.tflite";
    let v = json_run(&["--hw", "mac8", "--model", m]);
    assert_eq!(v["model"], "tiny_16x8");
    assert_eq!((v["weight_bits"].as_u64(), v["activation_bits"].as_u64()), (Some(8), Some(16)));
    let v = json_run(&["--hw", "mac8", "--model", m, "--abits", "8"]);
    assert_eq!(v["activation_bits"].as_u64(), Some(8));
    let (ok, _, err) = accelsim(&["run", "--hw", "systolic32", "--model", m]);
    // miette wraps long messages: compare with the line breaks folded.
    let flat = err.replace('│', " ").split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!ok && flat.contains("no compute mode for 8-bit weights x 16-bit activations"), "{err}");
}

/// TFLite Micro's quirk (issue 13): 1-D biases whose quantization says
/// `quantized_dimension = 3` import (read along the bias, as TFLite Micro does), the run says
/// so in its notes, and the model executes exactly as the same model without the quirk.
#[test]
fn tflite_micro_bias_quantized_dimension_is_accepted_with_a_note() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let micro = root.join("tests/fixtures/tflite/micro_bias_dim3.tflite");
    let v = json_run(&["--hw", "systolic32", "--model", micro.to_str().expect("utf8")]);
    let notes: Vec<&str> = v["notes"].as_array().expect("notes").iter().filter_map(|n| n.as_str()).collect();
    assert!(
        notes.iter().any(|n| n.contains("carry quantized_dimension 3") && n.contains("as TFLite Micro does")),
        "{notes:?}"
    );
    let plain = root.join("../shared/tflite/models/tiny_int8.tflite");
    let input = root.join("../shared/tflite/golden/tiny_int8/input_0.bin");
    let d = tempfile::tempdir().expect("tempdir");
    let mut outs = Vec::new();
    for (k, m) in [micro, plain].iter().enumerate() {
        let out = d.path().join(format!("out{k}.bin"));
        let (ok, _, err) = accelsim(&[
            "exec",
            "--model",
            m.to_str().expect("utf8"),
            "--input",
            input.to_str().expect("utf8"),
            "--output",
            out.to_str().expect("utf8"),
        ]);
        assert!(ok, "{err}");
        outs.push(std::fs::read(out).expect("output"));
    }
    assert_eq!(outs[0], outs[1]);
}

/// Transposed convolutions (TFLite TRANSPOSE_CONV, ONNX QDQ ConvTranspose; issue 13) get a
/// full table on every preset: a `tconv` row costed as its sub-pixel convolutions, with
/// the MACs of those phases (4x4 stride 2: every input pixel times all 16 taps; 3x3 stride
/// 2 with cropping: 15 x 18 (output row, tap) pairs per channel pair, see
/// `ops::transpose_conv`), cycles, traffic and energy.
#[test]
fn transposed_convolutions_run_on_every_preset() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let models = [
        ("tests/fixtures/ops/transpose_conv_k4_int8.tflite", 4 * 4 * 16 * 16 * 8),
        ("tests/fixtures/onnx_ops/ops/conv_transpose_s2_qdq.onnx", 15 * 18 * 4 * 3),
    ];
    for hw in presets::names() {
        for (m, macs) in models {
            let v = json_run(&["--hw", hw, "--model", root.join(m).to_str().expect("utf8")]);
            assert_eq!(v["totals"]["macs"].as_u64(), Some(macs), "{hw} {m}");
            let layers = v["layers"].as_array().expect("layers");
            let t = layers.iter().find(|l| l["op"] == "tconv").unwrap_or_else(|| panic!("{hw} {m}: no tconv row"));
            assert_eq!(t["macs"].as_u64(), Some(macs), "{hw} {m}");
            for k in ["cycles", "dram_read_bytes", "dram_write_bytes"] {
                assert!(t[k].as_u64().is_some_and(|c| c > 0), "{hw} {m}: {k} = {}", t[k]);
            }
            assert!(t["energy_pj"].as_f64().is_some_and(|e| e > 0.0), "{hw} {m}: energy");
            assert_eq!(t["widths"], "w8a8", "{hw} {m}");
        }
    }
}

/// Products of two activations (TFLite BATCH_MATMUL with broadcast batch axes, ONNX QDQ
/// MatMul of an input and its transpose; issue 13) get a full table on every preset: a
/// `matmul` row costed as one GEMM per batch matrix whose second operand is the activation,
/// run in a compute mode selected by the two operands' widths.
#[test]
fn matmuls_of_two_activations_run_on_every_preset() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let models = [
        ("tests/fixtures/ops/batch_matmul_bcast_int8.tflite", 2 * 3 * 4 * 8 * 5),
        ("tests/fixtures/onnx_ops/ops/matmul_transposed_qdq.onnx", 2 * 5 * 8 * 5),
    ];
    for hw in presets::names() {
        for (m, macs) in models {
            let v = json_run(&["--hw", hw, "--model", root.join(m).to_str().expect("utf8")]);
            assert_eq!(v["totals"]["macs"].as_u64(), Some(macs), "{hw} {m}");
            let layers = v["layers"].as_array().expect("layers");
            let t = layers.iter().find(|l| l["op"] == "matmul").unwrap_or_else(|| panic!("{hw} {m}: no matmul row"));
            assert_eq!(t["macs"].as_u64(), Some(macs), "{hw} {m}");
            // The operands' widths select a compute mode (8x8, or 16x16 where it is the only one).
            assert!(t["mode"].as_str().is_some_and(|mode| mode.contains('x')), "{hw} {m}: {}", t["mode"]);
            for k in ["cycles", "dram_read_bytes", "dram_write_bytes"] {
                assert!(t[k].as_u64().is_some_and(|c| c > 0), "{hw} {m}: {k} = {}", t[k]);
            }
            assert!(t["energy_pj"].as_f64().is_some_and(|e| e > 0.0), "{hw} {m}: energy");
        }
    }
}

/// `exec --show-kernels` names the instruction set the integer kernels run on, on standard
/// error, and the output is the same as without it.
#[test]
fn exec_names_the_kernels_it_runs_on() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("../shared/tflite/models/tiny_int8.tflite");
    let input = root.join("../shared/tflite/golden/tiny_int8/input_0.bin");
    let d = tempfile::tempdir().expect("tempdir");
    let mut outs = Vec::new();
    for (k, extra) in [&[][..], &["--show-kernels"][..]].iter().enumerate() {
        let out = d.path().join(format!("out{k}.bin"));
        let mut args = vec!["exec", "--model", model.to_str().expect("utf8"), "--input", input.to_str().expect("utf8")];
        args.extend(["--output", out.to_str().expect("utf8")]);
        args.extend(extra.iter().copied());
        let (ok, _, err) = accelsim(&args);
        assert!(ok, "{err}");
        let named =
            ["amx (", "avx512-vnni (", "avx2 (", "portable ("].iter().any(|n| err.contains(&format!("kernels: {n}")));
        assert_eq!(named, k == 1, "{err}");
        outs.push(std::fs::read(out).expect("output"));
    }
    assert_eq!(outs[0], outs[1]);
}
