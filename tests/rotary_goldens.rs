//! The rotary position embedding (`ops/rotary.rs`) against onnxruntime's `RotaryEmbedding`
//! (`tests/fixtures/rotary/`, made by `scripts/make_rotary_goldens.py`): plain frequencies,
//! a start position, Llama 3's scaling across its three bands, and a decode step at position
//! 100,000; sequences stacked as `--batch` stacks them. Also where the Llama built-in puts
//! it and what it costs.

mod common;

use accelsim::import::{load_model, LoadOptions, SeqPhase};
use accelsim::ir::{Graph, Layer, Op, RopeScaling, Rotary, Tensor, TensorKind, WeightSource};
use accelsim::kernels::{run_float, value_of, Values};
use accelsim::map::work::{phases_of, Phase};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rotary")
}

fn read_f32(name: &str) -> Vec<f32> {
    common::read_f32(&dir().join(name))
}

fn num(v: &serde_json::Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key}"))
}

#[test]
fn every_golden_matches_onnxruntime() {
    let text = std::fs::read_to_string(dir().join("manifest.json")).expect("manifest.json");
    let m: serde_json::Value = serde_json::from_str(&text).expect("manifest");
    let cases = m["cases"].as_object().expect("cases");
    assert_eq!(cases.len(), 4);
    for (name, c) in cases {
        let (heads, head_dim) = (num(c, "heads") as usize, num(c, "head_dim") as usize);
        let (sequences, positions) = (num(c, "sequences") as usize, num(c, "positions") as usize);
        let scaling = c["scaling"].as_object().map(|_| RopeScaling {
            factor: num(&c["scaling"], "factor") as f32,
            low_freq_factor: num(&c["scaling"], "low_freq_factor") as f32,
            high_freq_factor: num(&c["scaling"], "high_freq_factor") as f32,
            original_max_positions: num(&c["scaling"], "original_max_positions") as usize,
        });
        let op = Rotary { heads, theta: num(c, "theta") as f32, scaling, start: num(c, "start") as usize };
        let mut g = Graph::new(name.as_str(), WeightSource::Imported { path: "test".into() });
        // Token-major rows, as a transformer model file holds them: a sequence's positions,
        // then the next sequence's.
        g.sequence_rows = Some(positions);
        let x = g.add_tensor(Tensor::float("x", vec![sequences * positions, heads * head_dim], TensorKind::Activation));
        let y = g.add_tensor(Tensor::float("y", Vec::new(), TensorKind::Activation));
        g.inputs.push(x);
        g.outputs.push(y);
        g.layers.push(Layer {
            name: "rope".into(),
            op: Op::Rotary(op),
            inputs: vec![x],
            outputs: vec![y],
            activation: Default::default(),
        });
        g.infer_shapes().unwrap_or_else(|e| panic!("{name}: {e}"));
        let vals = run_float(&g, &[read_f32(&format!("{name}.in.bin"))]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let Some(Values::F32(got)) = value_of(&vals, y) else { panic!("{name}: no float output") };
        let want = read_f32(&format!("{name}.out.bin"));
        assert_eq!(got.len(), want.len(), "{name}");
        // onnxruntime multiplies by float32 caches; accelsim computes the angles in double.
        let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0f32, f32::max);
        eprintln!("{name}: {worst:e}");
        assert!(worst <= 1e-6, "{name}: relative diff {worst}");
    }
}

/// The Llama built-in rotates its queries (32 heads) and keys (8 heads) before the scores:
/// positions from 0 in prefill, the new token at `kv_len - 1` in decode; the cost reads the
/// input and one table row of head_dim values (64 cosines and sines) per position.
#[test]
fn llama_rotates_queries_and_keys_at_their_positions() {
    for (phase, start, positions) in
        [(SeqPhase::Prefill { len: 16 }, 0, 16u64), (SeqPhase::Decode { kv_len: 40 }, 39, 1)]
    {
        let g = load_model("llama_1b", &LoadOptions { phase: Some(phase), ..Default::default() }).expect("llama_1b");
        for (name, heads, width) in [("layers3/q_rope", 32, 2048u64), ("layers3/k_rope", 8, 512)] {
            let l = g.layers.iter().find(|l| l.name == name).unwrap_or_else(|| panic!("{name}"));
            let Op::Rotary(r) = l.op else { panic!("{name}: {}", l.op) };
            assert_eq!((r.heads, r.start, r.theta), (heads, start, 500_000.0), "{name}");
            assert!(r.scaling.is_some_and(|s| s.factor == 32.0 && s.original_max_positions == 8192));
            let [Phase::Vector(v)] = phases_of(&g, l)[..] else { panic!("{name}: one vector phase") };
            assert_eq!(v.in_elements, positions * width + positions * 64, "{name}: input and table");
            assert_eq!((v.out_elements, v.ops), (positions * width, 3 * positions * width), "{name}");
        }
        let scores = g.layers.iter().find(|l| l.name == "layers3/scores/a_split").expect("scores");
        assert_eq!(g.tensor(scores.inputs[0]).name, "layers3/q_rope");
    }
}
