//! Layer evaluations per second of the cost pipeline: one layer's map -> tile -> simulate ->
//! cost ([`accelsim::pipeline::eval_layer`], no tiling memo) on a prepared graph and
//! accelerator. Each iteration evaluates every layer of the network once; criterion's
//! throughput is in layer evaluations ("elements") per second.

use accelsim::hw::load_hw;
use accelsim::import::{load_model, LoadOptions};
use accelsim::quant::{assign_uniform, Precision};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("layer_eval");
    for (model, hw, wbits) in
        [("mnv1", "systolic32", 8), ("mnv1", "systolic32", 4), ("resnet50", "systolic32", 8), ("mnv1", "nvdla_full", 8)]
    {
        let hw = load_hw(hw, &[]).expect("preset");
        let mut g = load_model(model, &LoadOptions::default()).expect("built-in network");
        assign_uniform(&mut g, Precision { weight_bits: wbits, activation_bits: 8 }, hw.accumulator.bits as u8);
        group.throughput(Throughput::Elements(g.layers.len() as u64));
        group.bench_function(format!("{model}/{}/w{wbits}a8", hw.name), |b| {
            let mut notes = Vec::new();
            b.iter(|| {
                for l in &g.layers {
                    black_box(
                        accelsim::pipeline::eval_layer(black_box(&g), l, black_box(&hw), &mut notes).expect("runs"),
                    );
                }
                notes.clear();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
