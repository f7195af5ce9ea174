//! Timing models that read the lowered network and produce cycles per layer.
//!
//! Each model is its own module; today there is the NVDLA "estimator mode"
//! ([`nvdla_estimator`]), a re-implementation of NVIDIA's public performance spreadsheet.

pub mod nvdla_estimator;
