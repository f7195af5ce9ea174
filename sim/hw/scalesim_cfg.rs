//! SCALE-Sim configuration files (`scale.cfg`, INI syntax) as [`HwDesc`]s of kind
//! `mac_array`.
//!
//! Read from `[architecture_presets]` (key names case-insensitive, as Python's
//! `configparser` makes them; `key = value` or `key : value`; `#` / `;` comment lines):
//!
//! | key | becomes | required |
//! |---|---|---|
//! | `ArrayHeight`, `ArrayWidth` | `mac.rows`, `mac.cols` | yes |
//! | `Dataflow` | `mac.dataflow`: `os`, `ws` or `is`, lowercase (SCALE-Sim compares case-sensitively and silently runs anything else as `os`; here that is an error) | yes |
//! | `IfmapSramSzkB`, `FilterSramSzkB`, `OfmapSramSzkB` | the three double-buffered SRAMs (KiB) | yes |
//! | `Bandwidth` | DRAM words per cycle (default 10, SCALE-Sim's default config) | no |
//! | `MemoryBanks` | banks of each SRAM (default 1) | no |
//!
//! `[general] run_name` names the description. Every other key and section (offsets,
//! request buffers, `[layout]`, `[sparsity]`, `[run_presets]`...) is tolerated and ignored,
//! as SCALE-Sim ignores keys it does not read; numeric values of the offset and request
//! buffer keys are still checked, and `InterfaceBandwidth` must be `CALC` or `USER`.
//!
//! Values SCALE-Sim does not have: words are 1 byte (8-bit operands, one 8x8 precision mode
//! at `rows x cols` MACs/cycle), the clock is a nominal **1 GHz** so cycles equal ns,
//! 32-bit accumulators, no DRAM latency, energies from the `systolic32` preset. SRAM ports
//! are made wide enough (`64 x max(rows, cols)` bits, capped at 64 Kib) never to limit the
//! array, since SCALE-Sim models no SRAM port limit. Depthwise layers are mapped per group
//! as SCALE-Sim does ([`DepthwiseMapping::PerGroup`]).
//!
//! `[run_presets] InterfaceBandwidth`: `CALC` (SCALE-Sim's default, also when the key is
//! absent) sizes the DRAM interface to what the array demands, so layers never stall on DRAM
//! ([`crate::hw::Dram::sized_to_demand`]) and take exactly SCALE-Sim's compute cycles;
//! `USER` models `Bandwidth` words per cycle, and accelsim's tile/DMA model gives the stalls
//! (not SCALE-Sim's request-level memory model, so stall counts differ from SCALE-Sim's).
//! The assumed energies and the interface mode are stated in every run's notes.

use super::load::{parse_hw_with, Override};
use super::{Dataflow, DepthwiseMapping, Family, HwDesc, HwError, UnknownDataflow};
use crate::diag::FileError;
use std::collections::HashMap;

/// Reads a SCALE-Sim `.cfg` file, applying `--set` overrides to the resulting description.
pub fn load(path: &str, overrides: &[Override]) -> Result<HwDesc, HwError> {
    let text = crate::bounded_read::read_text(std::path::Path::new(path), crate::bounded_read::MAX_TEXT_BYTES)
        .map_err(|e| FileError::whole(path, format!("cannot read: {e}")))?;
    parse(path, &text, overrides)
}

/// A value with the byte range of the value text in the file.
struct Entry<'a> {
    value: &'a str,
    span: std::ops::Range<usize>,
}

/// Parses the text of a SCALE-Sim config (`file` names it in errors).
pub fn parse(file: &str, text: &str, overrides: &[Override]) -> Result<HwDesc, HwError> {
    let err = |span: std::ops::Range<usize>, msg: String| FileError::at(file, text, Some(span), msg);
    let mut section = String::new();
    let mut keys: HashMap<(String, String), Entry> = HashMap::new();
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        let t = body.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(name) = t.strip_prefix('[') {
            match name.strip_suffix(']') {
                Some(n) => section = n.trim().to_ascii_lowercase(),
                None => return Err(err(start..start + body.len(), "section header must end with ']'".into())),
            }
            continue;
        }
        let Some(sep) = body.find(['=', ':']) else {
            return Err(err(start..start + body.len(), format!("expected 'key = value', got '{t}'")));
        };
        let key = body[..sep].trim().to_ascii_lowercase();
        let raw = &body[sep + 1..];
        let value = raw.trim();
        let vstart = start + sep + 1 + (raw.len() - raw.trim_start().len());
        keys.insert((section.clone(), key), Entry { value, span: vstart..vstart + value.len().max(1) });
    }
    let arch = "architecture_presets";
    let get = |key: &str| keys.get(&(arch.to_string(), key.to_ascii_lowercase()));
    // Upper bounds are those of the accelerator description the values become, so an
    // error points at the key in this file rather than at the generated description.
    let int = |key: &str, min: u64, max: u64, default: Option<u64>| -> Result<u64, FileError> {
        match get(key) {
            Some(e) => match e.value.parse::<u64>() {
                Ok(v) if (min..=max).contains(&v) => Ok(v),
                _ => Err(err(
                    e.span.clone(),
                    format!("[{arch}] {key}: expected an integer in {min}..={max}, got '{}'", e.value),
                )),
            },
            None => default.ok_or_else(|| {
                FileError::whole(file, format!("[{arch}] {key} is missing (expected an integer in {min}..={max})"))
            }),
        }
    };
    let rows = int("ArrayHeight", 1, 1 << 16, None)?;
    let cols = int("ArrayWidth", 1, 1 << 16, None)?;
    let sram = |key: &str| int(key, 1, 1_000_000_000, None);
    let srams = [sram("IfmapSramSzkB")?, sram("FilterSramSzkB")?, sram("OfmapSramSzkB")?];
    let bandwidth = int("Bandwidth", 1, 1_000_000, Some(10))?;
    let banks = int("MemoryBanks", 1, 1 << 16, Some(1))?;
    for k in ["IfmapOffset", "FilterOffset", "OfmapOffset", "ReadRequestBuffer", "WriteRequestBuffer"] {
        int(k, 0, u64::MAX, Some(0))?;
    }
    let dataflow: Dataflow = match get("Dataflow") {
        Some(e) => e.value.parse().map_err(|bad: UnknownDataflow| {
            err(e.span.clone(), format!("[{arch}] Dataflow: {bad} (SCALE-Sim would silently simulate it as os)"))
        })?,
        None => return Err(FileError::whole(file, format!("[{arch}] Dataflow is missing (expected os, ws or is)"))),
    };
    // SCALE-Sim's default (and its default config's) mode is CALC.
    let calc = match keys.get(&("run_presets".to_string(), "interfacebandwidth".to_string())) {
        None => true,
        Some(e) if e.value == "CALC" => true,
        Some(e) if e.value == "USER" => false,
        Some(e) => {
            return Err(err(
                e.span.clone(),
                format!("[run_presets] InterfaceBandwidth: expected CALC or USER, got '{}'", e.value),
            ))
        }
    };
    let name = keys
        .get(&("general".to_string(), "run_name".to_string()))
        .map(|e| e.value.trim_matches('"').to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "scalesim".to_string());
    let port_bits = rows.max(cols).saturating_mul(64).min(1 << 16);
    let port_pj = port_bits as f64 / 8.0 * 2.5; // Horowitz: 20 pJ per 64-bit SRAM access
    let buffer = |n: &str, role: &str, kib: u64| {
        format!(
            "[[buffer]]\nname = \"{n}\"\nholds = [\"{role}\"]\nsize_kib = {kib}.0\nbanks = {banks}\nport_bits = {port_bits}\nread_energy_pj = {port_pj}\nwrite_energy_pj = {port_pj}\ndouble_buffered = true\n\n"
        )
    };
    let toml = format!(
        "name = {}\nkind = \"mac_array\"\ndescription = {}\n\
         clock_mhz = 1000.0\naccumulator_bits = 32\noverflow = \"wrap\"\n\n\
         [mac]\nrows = {rows}\ncols = {cols}\ndataflow = \"{dataflow}\"\n\n\
         [[precision]]\nweight_bits = 8\nactivation_bits = 8\nmacs_per_cycle = {}\nenergy_pj_per_mac = 0.3\n\n{}{}{}\
         [dram]\nbandwidth_gbps = {bandwidth}.0\nefficiency = 1.0\nlatency_ns = 0.0\nenergy_pj_per_bit = 20.0\n\n\
         [vector]\nelements_per_cycle = {cols}\nenergy_pj_per_op = 0.03\n",
        toml_str(&name),
        toml_str(&format!(
            "SCALE-Sim config {file}: {rows}x{cols} {dataflow} array, {} / {} / {} KiB SRAMs, {bandwidth} B/cycle DRAM",
            srams[0], srams[1], srams[2]
        )),
        rows.saturating_mul(cols),
        buffer("ifmap_sram", "inputs", srams[0]),
        buffer("filter_sram", "weights", srams[1]),
        buffer("ofmap_sram", "outputs", srams[2]),
    );
    let mut hw = parse_hw_with(file, &toml, overrides)?;
    if let Family::MacArray(m) = &mut hw.family {
        m.depthwise = DepthwiseMapping::PerGroup;
    }
    hw.dram.sized_to_demand = calc;
    // SCALE-Sim reads every layer's operands from and writes its outputs to memory.
    hw.onchip_reuse = false;
    hw.notes.push(format!(
        "{file}: a SCALE-Sim config has no energies; assumed (Horowitz ISSCC'14, 45 nm, as the systolic32 preset): {} pJ per 8x8 MAC, {} pJ per {}-bit SRAM access, {} pJ per DRAM bit, {} pJ per vector op; clock 1 GHz (cycles = ns)",
        hw.precisions[0].energy_per_mac.get(),
        hw.buffers[0].read_energy.get(),
        hw.buffers[0].port.get(),
        hw.dram.energy_per_bit.get(),
        hw.vector.energy_per_op.get()
    ));
    hw.notes.push(if calc {
        format!("{file}: InterfaceBandwidth = CALC: the DRAM interface is sized to what the array demands (as SCALE-Sim), so DRAM never stalls it; Bandwidth is not a limit")
    } else {
        format!("{file}: InterfaceBandwidth = USER: DRAM moves Bandwidth = {} words (bytes) per cycle", hw.dram.bandwidth.0 / 1e9)
    });
    Ok(hw)
}

/// `s` as a quoted TOML string (the run name and the file name may hold quotes or
/// control characters).
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "[general]\nrun_name = t\n\n[architecture_presets]\nArrayHeight = 16\nArrayWidth : 64\n\
        IfmapSramSzkB = 256\nFilterSramSzkB = 256\nOfmapSramSzkB = 128\nBandwidth = 10\nDataflow = ws\nFoo = bar\n";

    #[test]
    fn reads_array_srams_and_bandwidth() {
        let hw = parse("s.cfg", CFG, &[]).unwrap();
        let Family::MacArray(m) = &hw.family else { panic!("not a mac array") };
        assert_eq!((m.rows, m.cols, m.dataflow), (16, 64, super::super::Dataflow::Ws));
        assert_eq!(hw.buffers[2].size.get(), 128 * 1024);
        assert_eq!(hw.dram_bytes_per_cycle(), 10.0);
        assert_eq!(hw.precisions[0].macs_per_cycle, 1024);
    }

    #[test]
    fn wrong_values_name_line_and_key() {
        let e = parse("s.cfg", &CFG.replace("ArrayWidth : 64", "ArrayWidth : 0"), &[]).unwrap_err();
        assert_eq!(e.line, 6);
        assert!(e.message.contains("ArrayWidth"), "{e}");
        let e = parse("s.cfg", &CFG.replace("= ws", "= WS"), &[]).unwrap_err();
        assert!(e.message.contains("Dataflow") && e.line == 11, "{e}");
        let e = parse("s.cfg", &CFG.replace("Dataflow = ws\n", ""), &[]).unwrap_err();
        assert!(e.message.contains("Dataflow is missing"), "{e}");
    }
}
