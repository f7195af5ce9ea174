//! Layer evaluations per second of the cost pipeline (map -> simulate -> cost for one
//! layer), measured as whole-network runs of mnv1 and resnet50 on systolic32 and
//! nvdla_full; criterion's throughput is in layers ("elements") per second.

use accelsim::hw::load_hw;
use accelsim::import::{load_model, LoadOptions};
use accelsim::quant::{assign_widths, Precision};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("layer_eval");
    for (model, hw) in [("mnv1", "systolic32"), ("resnet50", "systolic32"), ("mnv1", "nvdla_full")] {
        let hw = load_hw(hw, &[]).expect("preset");
        let mut g = load_model(model, &LoadOptions::default()).expect("built-in network");
        assign_widths(&mut g, Precision { weight_bits: 8, activation_bits: 8 }, hw.accumulator.bits as u8);
        group.throughput(Throughput::Elements(g.layers.len() as u64));
        group.bench_function(format!("{model}/{}", hw.name), |b| {
            b.iter(|| accelsim::pipeline::run(black_box(&g), black_box(&hw)).expect("runs"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
