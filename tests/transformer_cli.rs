//! Transformers end to end (issue 19): the built-ins' MACs against the analytic count,
//! decode bounded by the bytes it must move, the KV cache's traffic and width, and the
//! phase flags of `accelsim run`.

mod common;

use accelsim::hw::{load_hw, presets};
use accelsim::import::{load_model, LoadOptions, SeqPhase};
use accelsim::ir::{Graph, Op, TensorKind, WeightGroups};
use accelsim::quant::{assign_widths, Precision, WidthPlan};
use accelsim::report::RunReport;
use common::{accelsim, json_run};

fn graph(model: &str, phase: SeqPhase, wbits: u8, abits: u8, kv_bits: Option<u8>) -> Graph {
    grouped(model, phase, wbits, abits, kv_bits, None)
}

/// [`graph`] with the GEMM weights in groups of `group` (fp16 scales), or per channel.
fn grouped(model: &str, phase: SeqPhase, wbits: u8, abits: u8, kv_bits: Option<u8>, group: Option<u32>) -> Graph {
    let mut g = load_model(model, &LoadOptions { phase: Some(phase), ..Default::default() }).expect("model");
    let groups = group.map(|size| WeightGroups { size, scale_bits: 16, zero_point_bits: 0 });
    let plan = WidthPlan::uniform(&g, Precision { weight_bits: wbits, activation_bits: abits })
        .with_kv_bits(kv_bits)
        .with_weight_groups(groups);
    assign_widths(&mut g, &plan, 32);
    g
}

/// GPT-2 small prefill at S = 128 (d = 768, 12 layers, FFN 4d, vocabulary V = 50257):
/// per layer the q, k, v and output projections 4 S d^2, the FFN 8 S d^2 and attention's
/// two products 2 S^2 d (every score computed, the causal mask not skipped); the tied LM
/// head S d V for every position. 12 (12 S d^2 + 2 S^2 d) + S d V = 16,114,089,984.
#[test]
fn gpt2_prefill_macs_match_the_analytic_count() {
    let (s, d, layers, v) = (128f64, 768f64, 12f64, 50257f64);
    let analytic = layers * (12.0 * s * d * d + 2.0 * s * s * d) + s * d * v;
    let j =
        json_run(&["--hw", "systolic32", "--model", "gpt2", "--phase", "prefill", "--seq-len", "128", "--no-accuracy"]);
    let macs = j["totals"]["macs"].as_u64().expect("macs") as f64;
    assert!((macs / analytic - 1.0).abs() <= 0.01, "{macs} MACs vs analytic {analytic}");
    assert_eq!(j["sequence"]["phase"], "prefill");
    assert_eq!(j["sequence"]["tokens"], 128);
}

/// Llama-1B decode at L = 1024: 16 layers of (q 2048x2048, k and v 2048x512, o 2048x2048,
/// gate, up and down 2048x8192) per token, attention 2 x 32 x L x 64 per layer, the LM head
/// 2048 x 128256: 1,235,814,400 - 262,668,288 (the table read by index, no MACs) +
/// 262,668,288 (the head) - 2048 x 33 (norms) MACs of weights and 16 x 2 x 32 x 1024 x 64.
#[test]
fn llama_decode_macs_match_the_analytic_count() {
    let g = graph("llama_1b", SeqPhase::Decode { kv_len: 1024 }, 8, 8, None);
    let per_layer = 2.0 * 2048.0 * 2048.0 + 2.0 * 2048.0 * 512.0 + 3.0 * 2048.0 * 8192.0 + 2.0 * 32.0 * 1024.0 * 64.0;
    let analytic = 16.0 * per_layer + 2048.0 * 128256.0;
    let macs = g.total_macs().get() as f64;
    assert!((macs / analytic - 1.0).abs() <= 0.01, "{macs} MACs vs analytic {analytic}");
}

/// The bits of an FC weight matrix `[out, in]` with its group scales: `out x in` packed
/// weights and `out x ceil(in / G)` scales, from the shapes.
fn fc_weight_bits(t: &accelsim::ir::Tensor) -> u64 {
    let [out, inp] = t.shape[..] else { panic!("{}: an FC matrix is [out, in], got {:?}", t.name, t.shape) };
    let (out, inp) = (out as u64, inp as u64);
    let scales = t.groups.map_or(0, |g| out * inp.div_ceil(u64::from(g.size)) * u64::from(g.bits_per_group()));
    out * inp * u64::from(t.dtype.bits()) + scales
}

/// The bytes a decode step must move at least: every weight of the matrix products (the
/// LM head reads the whole tied table) with its group scales and the whole KV cache, each
/// once at its width.
fn must_move(g: &Graph) -> f64 {
    let mut seen = vec![false; g.tensors.len()];
    let mut bits = 0u64;
    for l in g.layers.iter().filter(|l| matches!(l.op, Op::FullyConnected(_))) {
        for &t in &l.inputs {
            if g.tensor(t).kind == TensorKind::Weight && !std::mem::replace(&mut seen[t.0], true) {
                bits += fc_weight_bits(g.tensor(t));
            }
        }
    }
    bits += g.kv_cache.iter().map(|&t| g.tensor(t).bits().get()).sum::<u64>();
    bits as f64 / 8.0
}

fn run(g: &Graph, hw: &str) -> RunReport {
    accelsim::pipeline::run(g, &load_hw(hw, &[]).expect("preset")).expect("runs")
}

/// Property: on every preset and at every weight and KV width, per channel or in groups, a
/// Llama-1B decode step at L = 1024 takes no less than its compulsory bytes (weights, group
/// scales, KV cache) over the peak DRAM bandwidth.
#[test]
fn llama_decode_is_never_faster_than_its_bytes_over_dram_bandwidth() {
    for preset in presets::names() {
        let hw = load_hw(preset, &[]).expect("preset");
        for (wbits, kv, group) in
            [(8, 8, None), (4, 8, None), (4, 4, None), (8, 16, None), (4, 8, Some(128)), (4, 4, Some(32))]
        {
            let g = grouped("llama_1b", SeqPhase::Decode { kv_len: 1024 }, wbits, 8, Some(kv), group);
            let bound = must_move(&g) / hw.dram.bandwidth.0;
            let r = match accelsim::pipeline::run(&g, &hw) {
                Ok(r) => r,
                // A preset without a mode for these widths (nvdla_small: 8x8 only) refuses
                // them by name; W8 with an 8-bit cache runs everywhere.
                Err(e) if (wbits, kv) != (8, 8) => {
                    eprintln!("{preset:<20} w{wbits} kv{kv}: refused: {e}");
                    continue;
                }
                Err(e) => panic!("{preset}: {e}"),
            };
            let latency = r.totals.latency.get();
            assert!(latency >= bound, "{preset} w{wbits} kv{kv}: {latency} s < {bound} s");
            eprintln!("{preset:<20} w{wbits} kv{kv}: {:.3} ms per token, bound {:.3} ms", latency * 1e3, bound * 1e3);
        }
    }
}

/// W4 weights move half the weight bytes of W8 (decode reads each weight once).
#[test]
fn w4_weights_halve_the_weight_traffic_of_w8() {
    for preset in ["systolic32", "nvdla_full", "dsp"] {
        let weight_bytes = |wbits| -> u64 {
            let g = graph("llama_1b", SeqPhase::Decode { kv_len: 1024 }, wbits, 8, Some(8));
            let r = run(&g, preset);
            r.layers.iter().filter(|l| &*l.op == "fc").map(|l| l.operands.dram_weights.get()).sum()
        };
        let (w8, w4) = (weight_bytes(8), weight_bytes(4));
        let ratio = w4 as f64 / w8 as f64;
        assert!((ratio - 0.5).abs() < 0.005, "{preset}: w4 {w4} B vs w8 {w8} B ({ratio})");
    }
}

/// The KV cache's traffic grows with L at its width: attention's products read the cache
/// (twice the positions, twice the bytes; half the width, half the bytes).
#[test]
fn kv_cache_traffic_grows_with_length_at_its_width() {
    let attn = |kv_len, kv_bits| -> u64 {
        let g = graph("llama_1b", SeqPhase::Decode { kv_len }, 8, 8, Some(kv_bits));
        let r = run(&g, "systolic32");
        r.layers.iter().filter(|l| &*l.op == "matmul").map(|l| l.dram_read.get()).sum()
    };
    let (l1, l2, l1_4) = (attn(1024, 8), attn(2048, 8), attn(1024, 4));
    let cache = 16.0 * 2.0 * 8.0 * 1024.0 * 64.0; // layers x (K, V) x kv heads x L x head_dim
    assert!(l1 as f64 >= cache, "{l1} B read < the cache's {cache} B");
    assert!((l2 as f64 / l1 as f64 - 2.0).abs() < 0.05, "L 2048: {l2} B vs L 1024: {l1} B");
    assert!((l1_4 as f64 / l1 as f64 - 0.5).abs() < 0.05, "4-bit cache: {l1_4} B vs 8-bit {l1} B");
}

#[test]
fn decode_report_shows_tokens_per_second() {
    let args = ["--hw", "systolic32", "--model", "gpt2", "--phase", "decode", "--kv-len", "256", "--kv-bits", "4"];
    let mut a = vec!["run", "--no-accuracy"];
    a.extend_from_slice(&args);
    let (ok, out, err) = accelsim(&a);
    assert!(ok, "{err}");
    assert!(out.contains("decode: 1 token attending to 256 positions (KV cache 4-bit)"), "{out}");
    assert!(out.contains("per token") && out.contains("tokens/s"), "{out}");
    let mut a = vec!["--no-accuracy"];
    a.extend_from_slice(&args);
    let j = json_run(&a);
    let s = &j["sequence"];
    assert_eq!(s["phase"], "decode");
    assert_eq!(s["kv_len"], 256);
    assert_eq!(s["kv_bits"], 4);
    let per = s["latency_per_token_s"].as_f64().expect("latency");
    assert!((s["tokens_per_s"].as_f64().expect("rate") * per - 1.0).abs() < 1e-9);
    assert_eq!(per, j["totals"]["total_s"].as_f64().expect("total"));
}

#[test]
fn phase_flags_are_checked() {
    let bad = |args: &[&str], want: &str| {
        let mut a = vec!["run", "--hw", "systolic32", "--no-accuracy"];
        a.extend_from_slice(args);
        let (ok, _, err) = accelsim(&a);
        assert!(!ok && err.contains(want), "{args:?}: {err}");
    };
    bad(&["--model", "gpt2", "--phase", "decode"], "--phase decode needs --kv-len");
    bad(&["--model", "gpt2", "--phase", "prefill", "--kv-len", "8"], "--kv-len applies to --phase decode");
    bad(
        &["--model", "gpt2", "--phase", "decode", "--kv-len", "8", "--seq-len", "4"],
        "--seq-len applies to --phase prefill",
    );
    bad(&["--model", "gpt2", "--kv-bits", "4"], "--kv-bits applies to --phase decode");
    bad(&["--model", "gpt2", "--phase", "decode", "--kv-len", "8", "--kv-bits", "1"], "--kv-bits");
    bad(&["--model", "gpt2", "--seq-len", "2000"], "--seq-len must be in 1..=1024");
    bad(&["--model", "mnv1", "--seq-len", "8"], "has no [sequence] axis");
    bad(&["--model", "bert_base", "--phase", "decode", "--kv-len", "8"], "no KV cache");
}

/// The FC layers' DRAM weight bytes of a run, by layer name.
fn fc_weight_bytes(r: &RunReport) -> Vec<(String, u64)> {
    r.layers.iter().filter(|l| &*l.op == "fc").map(|l| (l.name.to_string(), l.operands.dram_weights.get())).collect()
}

/// W4 g128 moves exactly the W4 weight bytes plus one fp16 scale per 128 weights of each
/// output channel, layer by layer, on every family (decode reads each weight once); the
/// expected scale bytes come from each layer's weight shape.
#[test]
fn w4_g128_weight_bytes_are_w4_bytes_plus_the_scale_bytes() {
    let phase = SeqPhase::Decode { kv_len: 1024 };
    let plain = graph("llama_1b", phase, 4, 8, Some(8));
    let g128 = grouped("llama_1b", phase, 4, 8, Some(8), Some(128));
    for preset in ["systolic32", "nvdla_full", "dsp", "mac8"] {
        let acc_bits = load_hw(preset, &[]).expect("preset").accumulator.bits;
        let (a, b) = (fc_weight_bytes(&run(&plain, preset)), fc_weight_bytes(&run(&g128, preset)));
        assert_eq!(a.len(), b.len());
        for ((name, w4), (_, w4g)) in a.iter().zip(&b) {
            let l = g128.layers.iter().find(|l| &l.name == name).expect("layer");
            let t = g128.weights_of(l).expect("weights");
            let [out, inp] = t.shape[..] else { panic!("{name}: {:?}", t.shape) };
            let scales = out as u64 * (inp as u64).div_ceil(128) * 2;
            // The bias (the accumulator's width for a layer without one) loads with the weights.
            let bias_bits = g128.bias_of(l).map_or(acc_bits, |b| b.dtype.bits());
            assert_eq!(
                *w4,
                (out * inp) as u64 / 2 + out as u64 * u64::from(bias_bits) / 8,
                "{preset} {name}: W4 bytes"
            );
            assert_eq!(*w4g, w4 + scales, "{preset} {name}: W4 g128 = {w4} + {scales} scale bytes");
        }
        let r = run(&g128, preset);
        let q = r.layers.iter().find(|l| l.name.ends_with("q_proj")).expect("q_proj");
        assert_eq!(q.widths_label(), "w4a8g128", "{preset}");
        let e = r.layers.iter().find(|l| &*l.op == "embedding").expect("embedding");
        assert!(!e.widths_label().contains('g'), "{preset}: a table read by rows has no groups: {}", e.widths_label());
    }
}

/// A smaller group never lowers the traffic (more scales) nor the latency, on every preset
/// that runs W4A8.
#[test]
fn a_smaller_group_never_lowers_traffic() {
    let phase = SeqPhase::Decode { kv_len: 256 };
    for preset in presets::names() {
        let hw = load_hw(preset, &[]).expect("preset");
        let mut last: Option<(u64, f64, Option<u32>)> = None;
        // From per channel down to groups of 16.
        for group in [None, Some(1024), Some(256), Some(128), Some(64), Some(16)] {
            let g = grouped("gpt2", phase, 4, 8, Some(8), group);
            let Ok(r) = accelsim::pipeline::run(&g, &hw) else { break };
            let (bytes, t) = (r.totals.dram_read.get(), r.totals.latency.get());
            if let Some((b0, t0, g0)) = last {
                assert!(bytes > b0, "{preset}: g{group:?} reads {bytes} B <= g{g0:?}'s {b0} B");
                assert!(t >= t0, "{preset}: g{group:?} takes {t} s < g{g0:?}'s {t0} s");
            }
            last = Some((bytes, t, group));
        }
    }
}

/// Weight-only W4A16 g128 on a bandwidth-bound preset (nvdla_full: its W8A8 decode step
/// within 10% of its bytes over the DRAM bandwidth) decodes faster than W8A8, by about
/// the ratio of the bytes it moves; prefill on a family whose 16-bit mode runs at a quarter
/// of its 8-bit rate (mac8) is not faster than W8A8 and takes at least its GEMM MACs at
/// the 16-bit peak. Both expectations come from the presets' own figures.
#[test]
fn w4a16_decode_is_memory_bound_faster_and_prefill_is_not() {
    let decode = SeqPhase::Decode { kv_len: 1024 };
    let hw = load_hw("nvdla_full", &[]).expect("preset");
    let w8a8 = graph("llama_1b", decode, 8, 8, Some(8));
    let w4a16 = grouped("llama_1b", decode, 4, 16, Some(8), Some(128));
    let (r8, r4) = (run(&w8a8, "nvdla_full"), run(&w4a16, "nvdla_full"));
    let (t8, t4) = (r8.totals.latency.get(), r4.totals.latency.get());
    let (b8, b4) = (must_move(&w8a8) / hw.dram.bandwidth.0, must_move(&w4a16) / hw.dram.bandwidth.0);
    assert!(t8 <= 1.1 * b8, "nvdla_full W8A8 decode {t8} s is not bandwidth-bound ({b8} s)");
    assert!(t4 < t8 && t4 >= b4, "W4A16 g128 {t4} s vs W8A8 {t8} s (bound {b4} s)");
    assert!(t4 <= 1.1 * t8 * b4 / b8, "W4A16 g128 {t4} s: not memory-bound ({t8} s x {b4} / {b8})");
    assert!(r4.layers.iter().filter(|l| &*l.op == "fc").all(|l| l.mode == "16x16"), "weight-only FCs run in 16x16");

    let prefill = SeqPhase::Prefill { len: 128 };
    let hw = load_hw("mac8", &[]).expect("preset");
    let (m8, m16) = (hw.mode_for(8, 8).expect("8x8"), hw.mode_for(4, 16).expect("a 16-bit mode"));
    assert_eq!(m16.macs_per_cycle * 4, m8.macs_per_cycle, "mac8's 16-bit mode runs at a quarter of the 8-bit rate");
    let w8a8 = graph("llama_1b", prefill, 8, 8, None);
    let w4a16 = grouped("llama_1b", prefill, 4, 16, None, Some(128));
    let (r8, r4) = (run(&w8a8, "mac8"), run(&w4a16, "mac8"));
    let gemm_macs: u64 = r4.layers.iter().filter(|l| !l.mode.is_empty()).map(|l| l.macs.get()).sum();
    let floor = gemm_macs as f64 / (m16.macs_per_cycle as f64 * hw.clock.0);
    let (t8, t4) = (r8.totals.latency.get(), r4.totals.latency.get());
    assert!(t4 >= t8 && t4 >= floor, "mac8 prefill W4A16 g128 {t4} s vs W8A8 {t8} s, 16-bit floor {floor} s");
}

/// `--wgroup` on `run`: the rows show each matmul's widths with the group and the mode it
/// ran in, the notes say where the rescaling runs; bad values are refused by name.
#[test]
fn wgroup_flag_shows_groups_and_modes_and_is_checked() {
    let base = ["--hw", "nvdla_full", "--model", "gpt2", "--phase", "decode", "--kv-len", "64", "--no-accuracy"];
    let mut a = base.to_vec();
    a.extend_from_slice(&["--wbits", "4", "--abits", "16", "--wgroup", "64", "--wgroup-zero-point"]);
    let j = json_run(&a);
    let layers = j["layers"].as_array().expect("layers");
    let fc = layers.iter().find(|l| l["op"] == "fc").expect("an fc");
    assert_eq!(
        (fc["widths"].as_str(), fc["mode"].as_str(), fc["weight_group"].as_u64()),
        (Some("w4a16g64+z4"), Some("16x16"), Some(64))
    );
    let notes = j["notes"].to_string();
    assert!(notes.contains("rescaled on the vector unit") && notes.contains("2 multiply-adds"), "{notes}");
    let bad = |extra: &[&str], want: &str| {
        let mut a = vec!["run"];
        a.extend_from_slice(&base);
        a.extend_from_slice(extra);
        let (ok, _, err) = accelsim(&a);
        assert!(!ok && err.contains(want), "{extra:?}: {err}");
    };
    bad(&["--wgroup", "0"], "--wgroup must be a group size in 1..=");
    bad(&["--wgroup-zero-point"], "--wgroup");
}

/// `--kv-group`: the cache's scales move with it (exactly their bytes more on `Q K^T`),
/// the values are dequantized as `P V` loads them (more vector work), the sequence summary
/// names the groups, and misplaced or bad values are refused by name.
#[test]
fn kv_group_costs_the_scales_and_the_dequantization() {
    let base = ["--hw", "nvdla_full", "--model", "gpt2", "--phase", "decode", "--kv-len", "64", "--no-accuracy"];
    let run = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(&["--kv-bits", "4"]);
        a.extend_from_slice(extra);
        json_run(&a)
    };
    let (plain, g32, z) = (run(&[]), run(&["--kv-group", "32"]), run(&["--kv-group", "32", "--kv-group-zero-point"]));
    let row = |j: &serde_json::Value, name: &str| {
        j["layers"].as_array().expect("layers").iter().find(|l| l["name"] == name).cloned().expect(name)
    };
    let num = |l: &serde_json::Value, k: &str| l[k].as_f64().unwrap_or_else(|| panic!("{k}"));
    // GPT-2: 12 heads of 64 features, 64 cached positions: 2 groups of 32 per head and
    // position, an fp16 scale each (and a 4-bit zero point).
    let scales = 64.0 * 12.0 * 2.0 * 16.0 / 8.0;
    let (sp, sg, sz) = (row(&plain, "h0/scores"), row(&g32, "h0/scores"), row(&z, "h0/scores"));
    assert!(num(&sg, "dram_read_bytes") - num(&sp, "dram_read_bytes") >= scales, "{sg} vs {sp}");
    assert!(num(&sz, "dram_read_bytes") - num(&sp, "dram_read_bytes") >= scales * 20.0 / 16.0);
    let (cp, cg) = (row(&plain, "h0/context/heads"), row(&g32, "h0/context/heads"));
    assert!(num(&cg, "compute_cycles") > num(&cp, "compute_cycles"), "the values' dequantization: {cg} vs {cp}");
    let total = |j: &serde_json::Value| j["sequence"]["latency_per_token_s"].as_f64().expect("latency");
    assert!(
        total(&plain) <= total(&g32) && total(&g32) <= total(&z),
        "{} {} {}",
        total(&plain),
        total(&g32),
        total(&z)
    );
    assert_eq!(
        (g32["sequence"]["kv_group"].as_u64(), g32["sequence"]["kv_group_zero_point_bits"].as_u64()),
        (Some(32), Some(0))
    );
    assert_eq!(z["sequence"]["kv_group_zero_point_bits"].as_u64(), Some(4));
    assert!(plain["sequence"]["kv_group"].is_null());
    let notes = g32["notes"].to_string();
    assert!(notes.contains("group-wise keys") && notes.contains("group-wise values"), "{notes}");
    assert_eq!(notes.matches("group-wise keys").count(), 1, "one of each note: {notes}");
    let bad = |extra: &[&str], want: &str| {
        let mut a = vec!["run", "--hw", "nvdla_full", "--model", "gpt2", "--no-accuracy"];
        a.extend_from_slice(extra);
        let (ok, _, err) = accelsim(&a);
        assert!(!ok && err.contains(want), "{extra:?}: {err}");
    };
    bad(&["--phase", "prefill", "--kv-group", "32"], "--kv-group applies to --phase decode");
    bad(&["--phase", "decode", "--kv-len", "8", "--kv-group", "0"], "--kv-group must be a group size");
    bad(&["--phase", "decode", "--kv-len", "8", "--kv-group-zero-point"], "--kv-group");
}

/// Per-layer group sizes (`--layer-bits NAME=w8g-1`, `NAME=g32`): each layer's rows show
/// its own group (zero points at its own weight width) and move its own scale bytes;
/// a group on a layer without matrix-product weights, or a size out of range, is refused.
#[test]
fn layers_take_their_own_group_sizes() {
    let base = ["--hw", "nvdla_full", "--model", "gpt2", "--phase", "decode", "--kv-len", "64", "--no-accuracy"];
    let mut a = base.to_vec();
    a.extend_from_slice(&["--wbits", "4", "--abits", "16", "--wgroup", "128", "--wgroup-zero-point"]);
    a.extend_from_slice(&["--layer-bits", "h0/q=g32", "--layer-bits", "h0/k=g-1", "--layer-bits", "h0/v=w8"]);
    let j = json_run(&a);
    let layers = j["layers"].as_array().expect("layers");
    let row = |name: &str| layers.iter().find(|l| l["name"] == name).unwrap_or_else(|| panic!("{name}"));
    let (q, k, v, o) = (row("h0/q"), row("h0/k"), row("h0/v"), row("h0/attn_proj"));
    let got = |l: &serde_json::Value| (l["widths"].as_str().map(String::from), l["weight_group"].as_u64());
    assert_eq!(got(q), (Some("w4a16g32+z4".into()), Some(32)));
    assert_eq!(got(k), (Some("w4a16".into()), None));
    assert_eq!(got(v), (Some("w8a16g128+z8".into()), Some(128)), "the zero points at the layer's own width");
    assert_eq!(got(o), (Some("w4a16g128+z4".into()), Some(128)));
    // The same 768x768 weights: groups of 32 carry 4x the scales and zero points of 128,
    // per channel none of the groups'.
    let rd = |l: &serde_json::Value| l["dram_read_bytes"].as_f64().expect("dram_read_bytes");
    let weights = 768.0 * 768.0 * 4.0 / 8.0;
    let per_group = (16.0 + 4.0) / 8.0;
    let extra = rd(q) - rd(o);
    let want = 768.0 * 768.0 * (1.0 / 32.0 - 1.0 / 128.0) * per_group;
    assert!((extra - want).abs() <= 0.02 * want, "g32 over g128: {extra} B more, want {want}");
    let groups = 768.0 * 768.0 / 128.0 * per_group;
    assert!(
        rd(k) < rd(o) && rd(o) - rd(k) >= 0.9 * groups,
        "per channel moves no group scales: {} vs {}",
        rd(k),
        rd(o)
    );
    assert!(rd(k) >= weights, "{} B read, the weights alone are {weights} B", rd(k));
    let bad = |extra: &[&str], want: &str| {
        let mut a = vec!["run"];
        a.extend_from_slice(&base);
        a.extend_from_slice(&["--wbits", "4", "--abits", "16"]);
        a.extend_from_slice(extra);
        let (ok, _, err) = accelsim(&a);
        assert!(!ok && err.contains(want), "{extra:?}: {err}");
    };
    bad(&["--layer-bits", "h0/ln_1=g32"], "'h0/ln_1' (layernorm) has no matrix-product weights");
    bad(&["--layer-bits", "h0/q=w4g0"], "must be a group size in");
    bad(&["--layer-bits", "h0/q=w4gx"], "expected a group size");
}

#[test]
fn a_batch_of_sequences_shares_the_weights_and_reads_its_own_caches() {
    // GPT-2 decode, 256 cached positions at 8 bits: 12 layers x (K, V) x 256 x 768 bytes
    // of cache per sequence.
    let run = |batch: &str| {
        json_run(&[
            "--hw",
            "nvdla_full",
            "--model",
            "gpt2",
            "--phase",
            "decode",
            "--kv-len",
            "256",
            "--kv-bits",
            "8",
            "--batch",
            batch,
            "--no-accuracy",
        ])
    };
    let (one, eight) = (run("1"), run("8"));
    let total = |j: &serde_json::Value, k: &str| j["totals"][k].as_f64().expect(k);
    assert_eq!(total(&eight, "macs"), 8.0 * total(&one, "macs"));
    let cache = 12.0 * 2.0 * 256.0 * 768.0;
    // Each further sequence reads at least its own cache; the weights are read once.
    assert!(total(&eight, "dram_read_bytes") >= total(&one, "dram_read_bytes") + 7.0 * cache);
    assert!(total(&eight, "dram_read_bytes") < 8.0 * total(&one, "dram_read_bytes"));
    let (t1, t8) = (total(&one, "total_s"), total(&eight, "total_s"));
    assert!(t8 > t1 && t8 < 8.0 * t1, "a step of 8 sequences: {t8} s vs one: {t1} s");
    let s = &eight["sequence"];
    assert_eq!((s["batch"].as_u64(), s["tokens"].as_u64()), (Some(8), Some(8)));
    // Each sequence waits one step for its next token; the step serves all eight.
    assert_eq!(s["latency_per_token_s"].as_f64(), Some(t8));
    assert!((s["tokens_per_s"].as_f64().expect("rate") * t8 - 8.0).abs() < 1e-9);
    // Prefill of 4 prompts of 32 tokens: 4 x the MACs of one (attention stays per prompt).
    let prefill = |batch: &str| {
        json_run(&[
            "--hw",
            "systolic32",
            "--model",
            "gpt2",
            "--phase",
            "prefill",
            "--seq-len",
            "32",
            "--batch",
            batch,
            "--no-accuracy",
        ])
    };
    let (p1, p4) = (prefill("1"), prefill("4"));
    assert_eq!(total(&p4, "macs"), 4.0 * total(&p1, "macs"));
    assert_eq!(p4["sequence"]["tokens"].as_u64(), Some(128));
}

/// `--act-scales dynamic`: activations are held at 16 bits between layers and every matrix
/// product with weights quantizes its input per token to --abits on the vector unit, so a
/// projection reads its input at twice the bytes of static W8A8 and runs more vector work
/// in the same 8x8 mode; attention's products read 16-bit operands; `-asym` adds the zero
/// points' correction; what cannot be meant is refused by name.
#[test]
fn dynamic_activation_scales_hold_16_bits_and_quantize_per_token() {
    let base = ["--hw", "nvdla_full", "--model", "gpt2", "--seq-len", "32", "--wbits", "8", "--abits", "8"];
    let run = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.push("--no-accuracy");
        a.extend_from_slice(extra);
        json_run(&a)
    };
    let (stat, dynamic, asym) = (run(&[]), run(&["--act-scales", "dynamic"]), run(&["--act-scales", "dynamic-asym"]));
    let row = |j: &serde_json::Value, name: &str| {
        j["layers"].as_array().expect("layers").iter().find(|l| l["name"] == name).cloned().expect(name)
    };
    let (sq, dq, aq) = (row(&stat, "h0/q"), row(&dynamic, "h0/q"), row(&asym, "h0/q"));
    assert_eq!((sq["widths"].as_str(), sq["mode"].as_str()), (Some("w8a8"), Some("8x8")));
    assert_eq!((dq["widths"].as_str(), dq["mode"].as_str()), (Some("w8a16"), Some("8x8")));
    let num = |l: &serde_json::Value, k: &str| l[k].as_f64().unwrap_or_else(|| panic!("{k}: {l}"));
    // The input (32 tokens x 768) is read at least once, at 2 bytes instead of 1.
    let input = 32.0 * 768.0;
    assert!(num(&dq, "dram_read_bytes") - num(&sq, "dram_read_bytes") >= input, "{dq} vs {sq}");
    let vector = |l: &serde_json::Value| l["energy_breakdown_pj"]["vector"].as_f64().expect("vector energy");
    assert!(vector(&dq) > vector(&sq) && vector(&aq) > vector(&dq), "{sq} {dq} {aq}");
    assert_eq!(row(&dynamic, "h0/scores")["mode"].as_str(), Some("16x16"));
    let notes = dynamic["notes"].to_string();
    assert!(notes.contains("dynamic quantization (--act-scales dynamic)"), "{notes}");
    assert!(!notes.contains("asked for 8-bit activations"), "no widening notes: {notes}");
    assert!(!stat["notes"].to_string().contains("dynamic quantization"));
    let total = |j: &serde_json::Value| j["totals"]["latency_s"].as_f64().expect("latency");
    assert!(total(&stat) < total(&dynamic), "{} {}", total(&stat), total(&dynamic));
    let bad = |extra: &[&str], want: &str| {
        let mut a = vec!["run", "--hw", "nvdla_full", "--no-accuracy"];
        a.extend_from_slice(extra);
        let (ok, _, err) = accelsim(&a);
        assert!(!ok && err.contains(want), "{extra:?}: {err}");
    };
    bad(&["--model", "gpt2", "--abits", "16", "--act-scales", "dynamic"], "give --abits below 16, got 16");
    bad(
        &["--model", "gpt2", "--act-scales", "dynamic", "--layer-bits", "h0/q=a4"],
        "'h0/q' asks for its own activation width",
    );
    let tflite = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/tflite/models/mobilenet_v1_int8.tflite");
    bad(&["--model", tflite, "--act-scales", "dynamic"], "carries its own quantization");
    bad(&["--model", "gpt2", "--act-scales", "per-row"], "per-row");
}

/// `accelsim sweep`'s transformer axes give, point by point, what `accelsim run` gives with
/// the same flags: workloads of both phases, weight groups, activation scales, and (decode)
/// the KV cache's width and groups; each given axis has its column.
#[test]
fn sweep_axes_are_runs_point_by_point() {
    let sweep = |extra: &[&str]| -> Vec<serde_json::Value> {
        let mut a = vec!["sweep", "--hw", "mac8", "--model", "gpt2", "--format", "json", "--threads", "2"];
        a.extend_from_slice(extra);
        let (ok, out, err) = accelsim(&a);
        assert!(ok, "{extra:?}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("sweep JSON");
        v.as_array().expect("rows").clone()
    };
    let cell = |r: &serde_json::Value, k: &str| match &r[k] {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let check = |rows: &[serde_json::Value], extra: &[&str]| {
        for r in rows {
            assert!(r["error"].is_null(), "{r}");
            let mut a =
                vec!["--hw".to_string(), "mac8".into(), "--model".into(), "gpt2".into(), "--no-accuracy".into()];
            a.extend(
                ["--wbits", "--abits"].iter().zip(["wbits", "abits"]).flat_map(|(f, k)| [f.to_string(), cell(r, k)]),
            );
            a.extend(extra.iter().map(|s| s.to_string()));
            match cell(r, "phase").as_str() {
                "prefill" => a.extend(["--phase".into(), "prefill".into(), "--seq-len".into(), cell(r, "seq_len")]),
                "decode" => a.extend(["--phase".into(), "decode".into(), "--kv-len".into(), cell(r, "kv_len")]),
                other => panic!("phase {other}"),
            }
            match cell(r, "wgroup").as_str() {
                "" | "per-channel" => {}
                g => a.extend(["--wgroup".into(), g.to_string()]),
            }
            if !cell(r, "act_scales").is_empty() {
                a.extend(["--act-scales".into(), cell(r, "act_scales")]);
            }
            if !cell(r, "kv_bits").is_empty() {
                a.extend(["--kv-bits".into(), cell(r, "kv_bits")]);
            }
            match cell(r, "kv_group").as_str() {
                "" | "none" => {}
                g => a.extend(["--kv-group".into(), g.to_string()]),
            }
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let j = json_run(&a);
            for (k, t) in [("cycles", "cycles"), ("dram_read_bytes", "dram_read_bytes"), ("macs", "macs")] {
                assert_eq!(r[k].as_u64(), j["totals"][t].as_u64(), "{k} of {a:?}");
            }
            let (e, je) =
                (r["energy_pj"].as_f64().expect("energy"), j["totals"]["energy_pj"].as_f64().expect("energy"));
            assert!((e - je).abs() <= 1e-9 * je, "{e} vs {je} for {a:?}");
            let tokens = if cell(r, "phase") == "prefill" { cell(r, "seq_len") } else { "1".into() };
            assert_eq!(cell(r, "tokens"), tokens);
        }
    };
    let rows = sweep(&[
        "--phase",
        "prefill,decode",
        "--seq-len",
        "16",
        "--kv-len",
        "64",
        "--wbits",
        "4,8",
        "--abits",
        "8",
        "--wgroup",
        "-1,32",
        "--act-scales",
        "static,dynamic",
    ]);
    assert_eq!(rows.len(), 16);
    assert_eq!((cell(&rows[0], "phase"), cell(&rows[8], "phase")), ("prefill".into(), "decode".into()));
    assert_eq!((cell(&rows[0], "wgroup"), cell(&rows[2], "wgroup")), ("per-channel".into(), "32".into()));
    check(&rows, &[]);
    let rows = sweep(&[
        "--phase",
        "decode",
        "--kv-len",
        "64,256",
        "--wbits",
        "4",
        "--abits",
        "8",
        "--kv-bits",
        "16,4",
        "--kv-group",
        "-1,32",
    ]);
    assert_eq!(rows.len(), 8);
    assert!(
        rows.iter().all(|r| r.get("act_scales").is_none() && r.get("wgroup").is_none()),
        "no columns for axes not given"
    );
    check(&rows, &[]);
    // The KV cache's width shows in the traffic: a 4-bit cache reads less than a 16-bit one.
    let dram = |r: &serde_json::Value| r["dram_read_bytes"].as_u64().expect("bytes");
    assert!(dram(&rows[6]) < dram(&rows[4]), "{} {}", rows[6], rows[4]);
    // Refusals name the flag.
    let bad = |extra: &[&str], want: &str| {
        let mut a = vec!["sweep", "--hw", "mac8", "--model", "gpt2"];
        a.extend_from_slice(extra);
        let (ok, _, err) = accelsim(&a);
        assert!(!ok && err.contains(want), "{extra:?}: {err}");
    };
    bad(&["--kv-bits", "4"], "--kv-bits: applies to decode workloads only");
    bad(&["--phase", "prefill"], "needs --seq-len");
    bad(&["--seq-len", "16", "--functional"], "--functional evaluates each network");
    // A point the flags cannot run is an error row, not a failed sweep.
    let rows = sweep(&["--seq-len", "16", "--abits", "8,16", "--act-scales", "dynamic"]);
    assert!(rows[0]["error"].is_null() && cell(&rows[1], "error").contains("give --abits below 16"), "{rows:?}");
}
