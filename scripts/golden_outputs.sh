#!/bin/bash
# Captures the full output of `accelsim run --format json` for every preset x every built-in
# network x widths {4,8,16} (weights = activations, and weights with 8-bit activations),
# plus sweeps and runs with `--set` overrides (valid and invalid), into OUTDIR.
# Performance work must leave these byte-identical:
#   scripts/golden_outputs.sh /tmp/accelsim.before /tmp/before   # unmodified binary
#   scripts/golden_outputs.sh target/release/accelsim /tmp/after
#   diff -r /tmp/before /tmp/after && echo IDENTICAL
BIN=$1; OUT=$2; mkdir -p $OUT
for hw in dsp eyeriss mac16 mac4 mac8 nvdla_full nvdla_large nvdla_medium_1024 nvdla_medium_512 nvdla_small nvdla_small_256 systolic32; do
 for m in inception_v3 mnv1 mnv2 resnet18 resnet50 squeezenet vgg16; do
  for w in 4 8 16; do
   $BIN run --hw $hw --model $m --wbits $w --abits $w --format json > $OUT/$hw.$m.w$w.a$w.json 2>$OUT/$hw.$m.w$w.a$w.err; echo "rc=$?" >> $OUT/$hw.$m.w$w.a$w.err
   $BIN run --hw $hw --model $m --wbits $w --abits 8 --format json > $OUT/$hw.$m.w$w.a8.json 2>$OUT/$hw.$m.w$w.a8.err; echo "rc=$?" >> $OUT/$hw.$m.w$w.a8.err
  done
 done
done
# sweeps with overrides (exercise --set paths), per-layer
for hw in systolic32 mac8 nvdla_full dsp; do
  $BIN sweep --hw $hw --model mnv1 --model resnet18 --wbits 4,8 --abits 8 --per-layer --threads 1 --set buffer.0.size_kib=16,64,256 --set dram.bandwidth_gbps=1,10.5 --out $OUT/sweep.$hw.csv 2>$OUT/sweep.$hw.err
done
$BIN sweep --hw systolic32 --model mnv1 --set mac.rows=0,8,16.5,32 --set mac.cols=8,64 --set precision.0.macs_per_cycle=256,1024 --per-layer --out $OUT/sweep.mac.csv 2>$OUT/sweep.mac.err
$BIN sweep --hw systolic32 --model mnv1 --set mac.nope=1 --out $OUT/sweep.bad.csv 2>$OUT/sweep.bad.err; echo "rc=$?" >> $OUT/sweep.bad.err
$BIN run --hw systolic32 --model mnv1 --set mac.rows=1.5 > $OUT/run.bad.out 2>$OUT/run.bad.err; echo "rc=$?" >> $OUT/run.bad.err
$BIN run --hw systolic32 --model mnv1 --set dram.latency_ns=7 --set clock_mhz=800 --set accumulator_bits=24 --format json > $OUT/run.set.json 2>$OUT/run.set.err; echo "rc=$?" >> $OUT/run.set.err
