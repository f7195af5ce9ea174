//! Library-call time of a whole `accelsim run`: load the accelerator preset and the
//! built-in MobileNet-v1, assign 8-bit widths and cost every layer, for each MAC-array
//! preset (and the other families for comparison).

use accelsim::hw::load_hw;
use accelsim::import::{load_model, LoadOptions};
use accelsim::quant::{assign_uniform, Precision};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn run_mnv1(c: &mut Criterion) {
    for preset in ["systolic32", "mac4", "mac8", "mac16", "nvdla_full", "dsp"] {
        c.bench_function(&format!("load+run mnv1 on {preset}"), |b| {
            b.iter(|| {
                let hw = load_hw(black_box(preset), &[]).expect("preset");
                let mut g = load_model("mnv1", &LoadOptions::default()).expect("mnv1");
                assign_uniform(
                    &mut g,
                    Precision { weight_bits: 8, activation_bits: 8 },
                    hw.accumulator.bits.min(64) as u8,
                );
                black_box(accelsim::pipeline::run(&g, &hw).expect("run"))
            })
        });
    }
}

criterion_group!(benches, run_mnv1);
criterion_main!(benches);
