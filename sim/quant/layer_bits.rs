//! Per-layer width requests as the user writes them: `--layer-bits NAME=w4a8` (repeatable;
//! `NAME=w4` or `NAME=a6` set one width and leave the other at `--wbits` / `--abits`) and
//! `--layer-bits FILE.toml`:
//!
//! ```toml
//! [layers]
//! conv1 = "w8a8"        # the first conv keeps 8 bits
//! conv_pw_13 = "w4a8"
//! pool = "a8"           # a layer without weights takes an activation width only
//! fc1 = "w4a8g32"       # its weights in groups of 32 (over --wgroup, if given)
//! lm_head = "w8g-1"     # one scale per output channel (GPTQ's group_size=-1)
//! ```
//!
//! A group suffix `gN` (or `g-1`, per channel) may follow the widths or stand alone
//! (`fc1=g64`: the default widths, groups of 64).
//!
//! Serde lives only here (the file's mirror type); the requests become a
//! [`WidthPlan`](super::widths::WidthPlan) once the graph is known, which checks the names.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::check_width;
use super::widths::{GroupRequest, LayerRequest};
use crate::diag::FileError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    layers: BTreeMap<String, Spanned<String>>,
}

/// Parses `w4a8`, `w4` or `a8` into (weight, activation) bits, each in 2..=16.
pub fn parse_widths(text: &str) -> Result<(Option<u8>, Option<u8>), String> {
    let expected = || format!("expected widths like \"w4a8\", \"w4\" or \"a8\" (bits 2-16), got \"{text}\"");
    let t = text.trim();
    let (w, a) = match (t.strip_prefix('w'), t.find('a')) {
        (Some(rest), Some(i)) => (Some(&rest[..i - 1]), Some(&t[i + 1..])),
        (Some(rest), None) => (Some(rest), None),
        (None, Some(0)) => (None, Some(&t[1..])),
        _ => return Err(expected()),
    };
    let num = |what: &str, s: Option<&str>| -> Result<Option<u8>, String> {
        match s {
            None => Ok(None),
            Some(s) => {
                let v: i64 = s.parse().map_err(|_| expected())?;
                check_width(what, v).map(Some).map_err(|e| format!("{e} in \"{text}\""))
            }
        }
    };
    Ok((num("the weight width", w)?, num("the activation width", a)?))
}

/// One layer's request as written: widths, each optional, and a weight granularity.
type Spec = (Option<u8>, Option<u8>, Option<GroupRequest>);

/// Parses `w4a8`, `w4a8g32`, `w8g-1` or `g64`: [`parse_widths`] and an optional group
/// suffix, a group size in 1..=[`super::MAX_GROUP`] or `-1` (per channel).
pub fn parse_spec(text: &str) -> Result<Spec, String> {
    let t = text.trim();
    let Some(at) = t.find('g') else {
        let (w, a) = parse_widths(t)?;
        return Ok((w, a, None));
    };
    let (widths, group) = (&t[..at], &t[at + 1..]);
    let group = match group.parse::<i64>() {
        Ok(-1) => GroupRequest::PerChannel,
        Ok(n) => GroupRequest::Size(
            super::weight_groups("a layer's group (gN)", n, 0)
                .map_err(|e| format!("{e} (or -1: per channel) in \"{text}\""))?
                .size,
        ),
        Err(_) => {
            return Err(format!("expected a group size after 'g' (\"w4a8g32\"; \"g-1\": per channel), got \"{text}\""))
        }
    };
    let (w, a) = if widths.is_empty() { (None, None) } else { parse_widths(widths)? };
    Ok((w, a, Some(group)))
}

/// Parses one `--layer-bits NAME=WIDTHS` flag.
pub fn parse_flag(flag: &str) -> Result<LayerRequest, FileError> {
    let err = |m: String| FileError::whole("--layer-bits", m);
    let (name, widths) =
        flag.rsplit_once('=').ok_or_else(|| err(format!("expected NAME=w4a8 or a FILE.toml, got \"{flag}\"")))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(err(format!("\"{flag}\": no layer name before '='")));
    }
    let (weight, activation, group) = parse_spec(widths).map_err(|m| err(format!("{name}: {m}")))?;
    Ok(LayerRequest { source: "--layer-bits".into(), layer: name.to_string(), weight, activation, group })
}

/// Parses a `--layer-bits` TOML file's text; `file` names it in requests and errors.
pub fn parse_file(file: &str, text: &str) -> Result<Vec<LayerRequest>, FileError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| FileError::from_toml(file, text, &e))?;
    raw.layers
        .into_iter()
        .map(|(layer, v)| {
            let (weight, activation, group) = parse_spec(v.get_ref())
                .map_err(|m| FileError::at(file, text, Some(v.span()), format!("layers.{layer}: {m}")))?;
            Ok(LayerRequest { source: file.to_string(), layer, weight, activation, group })
        })
        .collect()
}

/// Whether a `--layer-bits` value names a file (ends in `.toml` and has no `=`).
pub fn is_file(value: &str) -> bool {
    !value.contains('=') && value.to_ascii_lowercase().ends_with(".toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_parse_and_bad_ones_say_what_was_expected() {
        assert_eq!(parse_widths("w4a8"), Ok((Some(4), Some(8))));
        assert_eq!(parse_widths("w16"), Ok((Some(16), None)));
        assert_eq!(parse_widths("a6"), Ok((None, Some(6))));
        for bad in ["", "w", "4a8", "wxa8", "w4a", "w4b8", "a8w4"] {
            let e = parse_widths(bad).unwrap_err();
            assert!(e.contains("expected widths like"), "{bad}: {e}");
        }
        let e = parse_widths("w1a8").unwrap_err();
        assert!(e.contains("the weight width must be in 2..=16 bits, got 1"), "{e}");
        let e = parse_widths("w8a32").unwrap_err();
        assert!(e.contains("the activation width must be in 2..=16 bits, got 32"), "{e}");
    }

    #[test]
    fn a_group_suffix_follows_the_widths_or_stands_alone() {
        assert_eq!(parse_spec("w4a8g32"), Ok((Some(4), Some(8), Some(GroupRequest::Size(32)))));
        assert_eq!(parse_spec("w8g-1"), Ok((Some(8), None, Some(GroupRequest::PerChannel))));
        assert_eq!(parse_spec("g128"), Ok((None, None, Some(GroupRequest::Size(128)))));
        assert_eq!(parse_spec("a6"), Ok((None, Some(6), None)));
        for bad in ["g", "w4g", "w4gx", "w4a8g32g", "gw4"] {
            let e = parse_spec(bad).unwrap_err();
            assert!(e.contains("expected a group size after 'g'") || e.contains("expected widths like"), "{bad}: {e}");
        }
        for bad in ["w4g0", "w4g-2", "g2000000"] {
            let e = parse_spec(bad).unwrap_err();
            assert!(
                e.contains("a layer's group (gN) must be a group size in 1..=") && e.contains("-1: per channel"),
                "{bad}: {e}"
            );
        }
        let r = parse_flag("fc1=w4a8g32").expect("parses");
        assert_eq!(r.group, Some(GroupRequest::Size(32)));
        let rs = parse_file("lb.toml", "[layers]\nfc = \"w4g64\"\n").expect("parses");
        assert_eq!(rs[0].group, Some(GroupRequest::Size(64)));
        let e = parse_file("lb.toml", "[layers]\nfc = \"w4g0\"\n").unwrap_err().to_string();
        assert!(e.starts_with("lb.toml:2:6: layers.fc: a layer's group (gN) must be"), "{e}");
    }

    #[test]
    fn flags_and_files_name_their_source() {
        let r = parse_flag("conv_1=w4a8").expect("parses");
        assert_eq!((r.layer.as_str(), r.weight, r.activation), ("conv_1", Some(4), Some(8)));
        assert_eq!(r.source, "--layer-bits");
        assert!(parse_flag("conv_1").unwrap_err().to_string().starts_with("--layer-bits: expected NAME=w4a8"));
        assert!(parse_flag("=w4").is_err());
        let text = "[layers]\nconv1 = \"w8a8\"\nfc = \"w4\"\n";
        let rs = parse_file("lb.toml", text).expect("parses");
        assert_eq!(rs.len(), 2);
        assert!(rs.iter().all(|r| r.source == "lb.toml"));
        let e = parse_file("lb.toml", "[layers]\nconv1 = \"w8a99\"\n").unwrap_err().to_string();
        assert!(e.starts_with("lb.toml:2:9: layers.conv1: the activation width must be in 2..=16"), "{e}");
        let e = parse_file("lb.toml", "[layer]\nconv1 = \"w8\"\n").unwrap_err().to_string();
        assert!(e.starts_with("lb.toml:1:"), "{e}");
        assert!(is_file("my/bits.toml") && !is_file("conv.toml=w4"));
    }
}
