//! Mapping of layers onto hardware compute structures.

pub mod systolic;
