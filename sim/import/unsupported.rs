//! Everything of a model an importer does not support, gathered into one error (issue 13
//! item 3): the importers keep reading after an unsupported operator or tensor type, so a
//! user learns every blocker of a model at once rather than one per attempt. Each item is
//! named in the file format's own spelling (LiteRT's `EXPAND_DIMS`, ONNX's `Unsqueeze`) and
//! located by the format's indices; items of the same kind are listed on one line.

/// Where an unsupported item is in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A TFLite operator: its index in the first subgraph.
    TfliteOperator(usize),
    /// A TFLite tensor: its index and name.
    TfliteTensor(usize, String),
    /// An ONNX node: its index in the graph's node list and its name (may be empty).
    OnnxNode(usize, String),
    /// An ONNX initializer or graph input, by name.
    OnnxTensor(String),
}

impl Place {
    /// The noun of a place, singular and plural (`operator index`, `operator indices`).
    fn noun(&self) -> (&'static str, &'static str) {
        match self {
            Place::TfliteOperator(_) => ("at operator index", "at operator indices"),
            Place::TfliteTensor(..) | Place::OnnxTensor(_) => ("in tensor", "in tensors"),
            Place::OnnxNode(..) => ("at node index", "at node indices"),
        }
    }

    /// The place without its noun (`3`, `3 ('conv')`, `'x'`).
    fn label(&self) -> String {
        match self {
            Place::TfliteOperator(i) => i.to_string(),
            Place::TfliteTensor(i, n) => format!("{i} ('{n}')"),
            Place::OnnxNode(i, n) if n.is_empty() => i.to_string(),
            Place::OnnxNode(i, n) => format!("{i} ('{n}')"),
            Place::OnnxTensor(n) => format!("'{n}'"),
        }
    }
}

/// One unsupported item: what (`operator SPLIT`, `operator CONV_2D with fused activation
/// TANH`, `tensor type COMPLEX64`), where, and why when the operator is known but this use
/// of it is not (`softmax over axis 1 (only the channel/last axis)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What is unsupported, in the format's spelling.
    pub what: String,
    /// Where it is.
    pub place: Place,
    /// Why, or empty.
    pub why: String,
}

/// How many places of one kind of item a line lists before `... (N in all)`.
const MAX_PLACES: usize = 12;

/// Everything of one model an importer refused, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unsupported {
    items: Vec<Item>,
}

impl Unsupported {
    /// Records one item.
    pub fn push(&mut self, what: impl Into<String>, place: Place) {
        self.items.push(Item { what: what.into(), place, why: String::new() });
    }

    /// Records one item with the reason this use of a known operator is refused.
    pub fn push_why(&mut self, what: impl Into<String>, place: Place, why: impl Into<String>) {
        self.items.push(Item { what: what.into(), place, why: why.into() });
    }

    /// Appends another list's items.
    pub fn extend(&mut self, other: Unsupported) {
        self.items.extend(other.items);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items, in the order they were found.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// One line per kind of item (what and why), in the order each kind was first found:
    /// `operator SPLIT at operator indices 3, 9`.
    pub fn lines(&self) -> Vec<String> {
        let mut kinds: Vec<(&str, &str, Vec<&Place>)> = Vec::new();
        for it in &self.items {
            match kinds.iter_mut().find(|(w, y, _)| *w == it.what && *y == it.why) {
                Some((_, _, places)) => places.push(&it.place),
                None => kinds.push((&it.what, &it.why, vec![&it.place])),
            }
        }
        kinds
            .into_iter()
            .map(|(what, why, places)| {
                let (one, many) = places[0].noun();
                let noun = if places.len() == 1 { one } else { many };
                let mut shown: Vec<String> = places.iter().take(MAX_PLACES).map(|p| p.label()).collect();
                if places.len() > MAX_PLACES {
                    shown.push(format!("... ({} in all)", places.len()));
                }
                let why = if why.is_empty() { String::new() } else { format!(": {why}") };
                format!("{what} {noun} {}{why}", shown.join(", "))
            })
            .collect()
    }
}

impl std::fmt::Display for Unsupported {
    /// One kind: `unsupported operator SPLIT at operator index 3`; several: a count and one
    /// indented line per kind.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines = self.lines();
        match &lines[..] {
            [] => write!(f, "nothing unsupported"),
            [one] => write!(f, "unsupported {one}"),
            many => {
                write!(f, "{} kinds of unsupported operators or tensor types (all listed):", many.len())?;
                for l in many {
                    write!(f, "\n  unsupported {l}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_kind_is_one_line_and_kinds_are_grouped() {
        let mut u = Unsupported::default();
        u.push("operator SPLIT", Place::TfliteOperator(3));
        assert_eq!(u.to_string(), "unsupported operator SPLIT at operator index 3");
        u.push("tensor type COMPLEX64", Place::TfliteTensor(5, "c".into()));
        u.push("operator SPLIT", Place::TfliteOperator(9));
        u.push_why("operator Softmax", Place::OnnxNode(4, "sm".into()), "over axis 1");
        assert_eq!(
            u.to_string(),
            "3 kinds of unsupported operators or tensor types (all listed):\n  unsupported operator SPLIT at operator indices 3, 9\n  unsupported tensor type COMPLEX64 in tensor 5 ('c')\n  unsupported operator Softmax at node index 4 ('sm'): over axis 1"
        );
    }

    #[test]
    fn long_lists_are_cut_with_the_count() {
        let mut u = Unsupported::default();
        for i in 0..20 {
            u.push("operator Loop", Place::OnnxNode(i, if i == 0 { "loop".into() } else { String::new() }));
        }
        let s = u.to_string();
        assert!(s.starts_with("unsupported operator Loop at node indices 0 ('loop'), 1, 2"), "{s}");
        assert!(s.ends_with(", 11, ... (20 in all)"), "{s}");
    }
}
