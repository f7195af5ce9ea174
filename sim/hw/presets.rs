//! The accelerator presets of `accelerators/`, embedded in the binary so `--hw dsp` works
//! from any directory.

const PRESETS: &[(&str, &str)] = &[
    ("dsp", include_str!("../../accelerators/dsp.toml")),
    ("eyeriss", include_str!("../../accelerators/eyeriss.toml")),
    ("nvdla_small", include_str!("../../accelerators/nvdla_small.toml")),
    ("nvdla_full", include_str!("../../accelerators/nvdla_full.toml")),
    ("nvdla_large", include_str!("../../accelerators/nvdla_large.toml")),
    ("nvdla_medium_1024", include_str!("../../accelerators/nvdla_medium_1024.toml")),
    ("nvdla_medium_512", include_str!("../../accelerators/nvdla_medium_512.toml")),
    ("nvdla_small_256", include_str!("../../accelerators/nvdla_small_256.toml")),
    ("mac4", include_str!("../../accelerators/mac4.toml")),
    ("mac8", include_str!("../../accelerators/mac8.toml")),
    ("mac16", include_str!("../../accelerators/mac16.toml")),
    ("systolic32", include_str!("../../accelerators/systolic32.toml")),
];

/// Names of the presets.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
}

/// The TOML text of a preset.
pub fn source(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
