//! The Eyeriss family end to end (`--hw eyeriss`, `map/family/eyeriss.rs`): AlexNet's CONV
//! layers at batch 4 on the real binary map onto the papers' PE sets, and their cycles are
//! the row-stationary model's (computed, not the measured figures of JSSC 2017 Table V, which
//! `reports/eyeriss_alexnet.md` compares them with).

mod common;

use accelsim::hw::parse_hw;
use common::json_run;
use serde_json::Value;

const CONVS: [&str; 5] = ["conv1", "conv2", "conv3", "conv4", "conv5"];

fn alexnet_batch4() -> Value {
    json_run(&[
        "--hw",
        "eyeriss",
        "--model",
        "alexnet",
        "--batch",
        "4",
        "--wbits",
        "16",
        "--abits",
        "16",
        "--objective",
        "energy",
        "--no-accuracy",
    ])
}

fn layer<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["layers"].as_array().expect("layers").iter().find(|l| l["name"] == name).expect(name)
}

#[test]
fn alexnet_conv_layers_use_the_papers_pe_sets() {
    let r = alexnet_batch4();
    // The PE-set rule of ISCA 2016 on 12 x 14 PEs: CONV1's 11 x 55 set in strips of 11 x 14;
    // CONV2's 5 x 27 set cut into strips of 14 and 13 stacked on 10 rows; CONV3-5's 3 x 13
    // sets replicated four times.
    let active: Vec<u64> = CONVS.iter().map(|n| layer(&r, n)["active_pes"].as_u64().expect("active_pes")).collect();
    assert_eq!(active, vec![154, 135, 156, 156, 156]);
    // Layers that do not run on the PE array carry no count.
    assert!(layer(&r, "pool1").get("active_pes").is_none());
}

#[test]
fn alexnet_conv_cycles_are_the_row_stationary_models() {
    let r = alexnet_batch4();
    let cycles: Vec<u64> =
        CONVS.iter().map(|n| layer(&r, n)["compute_cycles"].as_u64().expect("compute_cycles")).collect();
    // CONV3 by hand: 3 x 13 sets, 4 at once; per PE q = 4 channels (4 x 3 taps fill the
    // 12-word ifmap scratchpad) and p = 16 filters (p q S = 192 <= 224 weights, 16 <= 24
    // psums): 4 images x 64 channel blocks x 24 filter blocks / 4 sets = 1536 passes, each
    // 13 positions x (192 MACs + 16 psum additions) + 192 filter words + 12 ifmap words.
    assert_eq!(cycles[2], 1536 * (13 * (192 + 16) + 192 + 12));
    // The others as the model computes them (regression figures, not fitted to the paper).
    assert_eq!(cycles, vec![3_095_136, 7_560_192, 4_466_688, 3_350_016, 2_233_344]);
    for (n, &c) in CONVS.iter().zip(&cycles) {
        let l = layer(&r, n);
        // Never faster than every active PE doing one MAC per cycle.
        let floor = l["macs"].as_u64().unwrap().div_ceil(l["active_pes"].as_u64().unwrap());
        assert!(c >= floor, "{n}: {c} cycles below the {floor}-cycle floor");
        // The buffer ports never throttle the PEs here: the GLB serves the array.
        assert_eq!(l["port_cycles"].as_u64(), Some(0), "{n}");
    }
}

#[test]
fn an_eyeriss_description_needs_its_section() {
    let text = accelsim::hw::presets::source("eyeriss").expect("preset");
    let (start, end) = (text.find("[eyeriss]").expect("section"), text.find("[[precision]]").expect("mode"));
    let without = format!("{}{}", &text[..start], &text[end..]);
    let e = parse_hw("e.toml", &without, &[]).unwrap_err().to_string();
    assert!(e.contains("kind = \"eyeriss\" needs a [eyeriss] section"), "{e}");
    let e = parse_hw("e.toml", &text.replace("psum_spad = 24", "psum_spad = 0"), &[]).unwrap_err().to_string();
    assert!(e.contains("eyeriss.psum_spad must be in 1..="), "{e}");
}
