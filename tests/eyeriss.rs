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
    // psums): 64 channel blocks x 24 filter blocks / 4 sets = 384 passes. A pass stacks two
    // sets of channel blocks (psums added in the array) beside two of filter blocks: it fills
    // 4 x 3 x 192 filter words over the 64-bit filter GIN (4 per cycle), waits 6 - 1 rows of
    // one position each (192 cycles) for the column's psums, then streams 4 images of 13
    // positions x 192 MACs plus 12 window words (the ifmap GIN's 2 x 4 x 15 x 15 words and
    // the GON's 2 x 16 x 13 x 13 / 4 psums fit under it).
    assert_eq!(cycles[2], 384 * (4 * 3 * 192 / 4 + 5 * 192 + 4 * (13 * 192 + 12)));
    // The others as the model computes them (regression figures, not fitted to the paper).
    assert_eq!(cycles, vec![3_576_672, 8_248_320, 4_442_112, 3_326_976, 2_221_056]);
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
