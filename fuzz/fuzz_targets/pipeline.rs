//! Fuzzes the cost pipeline: a preset and a built-in network with fuzzed `--set`
//! overrides, widths, width multiplier and resolution. Every combination must give a
//! report with finite numbers or an error, never a panic. The property is
//! [`checks::pipeline`]; `tests/fuzz_corpus.rs` replays `corpus/pipeline/` through
//! [`checks::pipeline_bytes`], which decodes the bytes as this target does.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|i: checks::PipelineInput| checks::pipeline(i));
