//! The built-in networks: the TOML files of `models/` (transformers in
//! `models/transformers/`), embedded in the binary so they work
//! from any directory after `cargo install`.

/// (name, file contents) of every built-in network, in the order `accelsim models` lists them.
const MODELS: &[(&str, &str)] = &[
    ("mnv1", include_str!("../../models/mnv1.toml")),
    ("mnv2", include_str!("../../models/mnv2.toml")),
    ("resnet18", include_str!("../../models/resnet18.toml")),
    ("resnet50", include_str!("../../models/resnet50.toml")),
    ("squeezenet", include_str!("../../models/squeezenet.toml")),
    ("vgg16", include_str!("../../models/vgg16.toml")),
    ("inception_v3", include_str!("../../models/inception_v3.toml")),
    ("alexnet", include_str!("../../models/alexnet.toml")),
    ("gpt2", include_str!("../../models/transformers/gpt2.toml")),
    ("bert_base", include_str!("../../models/transformers/bert_base.toml")),
    ("llama_1b", include_str!("../../models/transformers/llama_1b.toml")),
    ("vit_b16", include_str!("../../models/transformers/vit_b16.toml")),
];

/// Names of the built-in networks.
pub fn names() -> Vec<&'static str> {
    MODELS.iter().map(|(n, _)| *n).collect()
}

/// The TOML source of a built-in network.
pub fn source(name: &str) -> Option<&'static str> {
    MODELS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
