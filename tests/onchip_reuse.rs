//! On-chip activation reuse across layers (`pipeline/onchip.rs`), end to end on the binary:
//! the DRAM bytes saved are exactly the intermediate tensor's bytes at its packed width
//! (one write and one read per reader) on every family (NVDLA: its fused intermediates);
//! nothing stays on chip when the buffer cannot hold the tensor; a tensor with several
//! readers stays only when every reader reads it on chip; totals stay the sums of the layers;
//! `--no-onchip-reuse` gives the numbers without it.

mod common;

use common::{accelsim, json_run};
use serde_json::Value;
use std::path::Path;

/// A network file in `dir`: an 8x8x16 input through the layers given (TOML `[[layer]]`s).
fn model(dir: &Path, name: &str, layers: &str) -> String {
    let p = dir.join(format!("{name}.toml"));
    let text = format!("name = \"{name}\"\ninput = {{ name = \"input\", shape = [1, 8, 8, 16] }}\n{layers}");
    std::fs::write(&p, text).expect("write model");
    p.to_string_lossy().into_owned()
}

fn conv(name: &str, filters: u32, input: Option<&str>) -> String {
    let input = input.map_or(String::new(), |i| format!("inputs = [\"{i}\"]\n"));
    format!("[[layer]]\nname = \"{name}\"\nop = \"conv2d\"\nfilters = {filters}\nkernel = 1\nstride = 1\npadding = \"same\"\n{input}\n")
}

/// Two 1x1 convolutions: `a`'s output (8x8x16) is read once by `b`.
fn chain(dir: &Path) -> String {
    model(dir, "chain", &format!("{}{}", conv("a", 16, None), conv("b", 16, None)))
}

fn dram(v: &Value) -> (u64, u64) {
    let t = &v["totals"];
    (t["dram_read_bytes"].as_u64().expect("read"), t["dram_write_bytes"].as_u64().expect("write"))
}

fn layer<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["layers"].as_array().expect("layers").iter().find(|l| l["name"] == name).expect("layer")
}

fn bytes(l: &Value) -> (u64, u64) {
    (l["dram_read_bytes"].as_u64().expect("read"), l["dram_write_bytes"].as_u64().expect("write"))
}

fn on_chip(v: &Value) -> Vec<String> {
    v["on_chip"].as_array().expect("on_chip").iter().map(|t| t["tensor"].as_str().expect("name").to_string()).collect()
}

/// Totals are the sums of the layers' rows.
fn assert_sums(v: &Value) {
    let layers = v["layers"].as_array().expect("layers");
    let sum = |k: &str| layers.iter().map(|l| l[k].as_u64().expect(k)).sum::<u64>();
    for k in ["dram_read_bytes", "dram_write_bytes", "cycles"] {
        assert_eq!(v["totals"][k].as_u64(), Some(sum(k)), "{k}");
    }
}

/// The layer `a`'s output, 8 x 8 x 16 elements at `bits`, in bytes.
fn a_bytes(bits: u64) -> u64 {
    8 * 8 * 16 * bits / 8
}

#[test]
fn the_intermediate_stays_on_chip_and_saves_exactly_its_write_and_read_on_every_family() {
    let dir = tempfile::tempdir().expect("tmp");
    let net = chain(dir.path());
    for (hw, bits) in [("systolic32", 8), ("mac8", 8), ("dsp", 8), ("eyeriss", 16)] {
        let b = bits.to_string();
        let args = ["--hw", hw, "--model", &net, "--wbits", &b, "--abits", &b, "--no-accuracy"];
        let on = json_run(&args);
        let off = json_run(&[&args[..], &["--no-onchip-reuse"]].concat());
        assert_eq!(on_chip(&on), ["a"], "{hw}");
        assert!(on_chip(&off).is_empty(), "{hw}");
        assert_eq!(on["on_chip"][0]["bytes"].as_u64(), Some(a_bytes(bits)), "{hw}");
        assert_eq!(on["on_chip"][0]["readers"], serde_json::json!(["b"]), "{hw}");
        let ((r_on, w_on), (r_off, w_off)) = (dram(&on), dram(&off));
        // `a` is not written, and `b` (whose whole input fits one tile, read once) does not read it.
        assert_eq!(w_off - w_on, a_bytes(bits), "{hw}: write saved");
        assert_eq!(r_off - r_on, a_bytes(bits), "{hw}: read saved");
        assert_eq!(bytes(layer(&off, "a")).1 - bytes(layer(&on, "a")).1, a_bytes(bits), "{hw}: a's row");
        assert_eq!(bytes(layer(&off, "b")).0 - bytes(layer(&on, "b")).0, a_bytes(bits), "{hw}: b's row");
        assert_eq!(layer(&on, "a")["output_on_chip"], true, "{hw}");
        assert!(on["totals"]["cycles"].as_u64() <= off["totals"]["cycles"].as_u64(), "{hw}: no slower");
        assert_sums(&on);
        assert_sums(&off);
        assert!(on["notes"].to_string().contains("on-chip reuse across layers on"), "{hw}");
        assert!(off["notes"].to_string().contains("on-chip reuse across layers off"), "{hw}");
    }
}

/// NVDLA keeps no output on chip between passes (CBUF is filled from memory only); a
/// pooling fused behind its convolution keeps the convolution's output on chip, and saves
/// exactly its write and read against the same pass unfused.
#[test]
fn nvdla_keeps_only_its_fused_intermediates_on_chip() {
    let dir = tempfile::tempdir().expect("tmp");
    let pool = "[[layer]]\nname = \"p\"\nop = \"maxpool\"\nkernel = 2\nstride = 2\n\n";
    let net = model(dir.path(), "convpool", &format!("{}{pool}", conv("a", 16, None)));
    let fused = json_run(&["--hw", "nvdla_full", "--model", &net, "--no-accuracy"]);
    assert_eq!(on_chip(&fused), ["a"]);
    assert_eq!(fused["on_chip"][0]["fused"], true);
    let text = std::fs::read_to_string("accelerators/nvdla_full.toml").expect("preset");
    let unfused_hw = dir.path().join("nvdla_nofuse.toml");
    std::fs::write(&unfused_hw, text.replace("pool_on_the_fly = true", "pool_on_the_fly = false")).expect("write");
    let unfused = json_run(&["--hw", unfused_hw.to_str().expect("utf-8"), "--model", &net, "--no-accuracy"]);
    assert!(on_chip(&unfused).is_empty());
    let ((r_f, w_f), (r_u, w_u)) = (dram(&fused), dram(&unfused));
    assert_eq!((r_u - r_f, w_u - w_f), (a_bytes(8), a_bytes(8)));
    // A chain of convolutions: nothing fuses, nothing stays on chip.
    let c = json_run(&["--hw", "nvdla_full", "--model", &chain(dir.path()), "--no-accuracy"]);
    assert!(on_chip(&c).is_empty());
    assert!(c["notes"].to_string().contains("keeps no layer output on chip"));
}

#[test]
fn no_reuse_when_the_buffer_cannot_hold_the_tensor() {
    let dir = tempfile::tempdir().expect("tmp");
    let net = chain(dir.path());
    // 1 KiB input and output SRAMs: `a` (1 KiB) would leave no room.
    let small = ["--set", "buffer.0.size_kib=1", "--set", "buffer.2.size_kib=1"];
    let args = [&["--hw", "systolic32", "--model", &net, "--no-accuracy"][..], &small[..]].concat();
    let on = json_run(&args);
    let off = json_run(&[&args[..], &["--no-onchip-reuse"]].concat());
    assert!(on_chip(&on).is_empty());
    assert_eq!(dram(&on), dram(&off));
    assert_eq!(on["totals"]["cycles"], off["totals"]["cycles"]);
    // The DSP's 512 KiB L2 at 1 KiB: the same.
    let dsp = json_run(&["--hw", "dsp", "--model", &net, "--no-accuracy", "--set", "buffer.0.size_kib=1"]);
    assert!(on_chip(&dsp).is_empty());
}

/// A residual block: `a` is read by `b` and by the add; it stays on chip only with both
/// readers reading it there (one write and two reads saved). A tensor one of whose readers
/// cannot read it on chip (a reshape: a view) stays in DRAM, and so does a network output.
#[test]
fn a_tensor_with_several_readers_stays_only_when_every_reader_reads_it_on_chip() {
    let dir = tempfile::tempdir().expect("tmp");
    let add = "[[layer]]\nname = \"sum\"\nop = \"add\"\ninputs = [\"b\", \"a\"]\n\n";
    let res = model(
        dir.path(),
        "residual",
        &format!("{}{}{add}{}", conv("a", 16, None), conv("b", 16, None), conv("c", 16, None)),
    );
    for hw in ["systolic32", "dsp"] {
        let on = json_run(&["--hw", hw, "--model", &res, "--no-accuracy"]);
        let off = json_run(&["--hw", hw, "--model", &res, "--no-accuracy", "--no-onchip-reuse"]);
        let kept = on_chip(&on);
        assert!(kept.contains(&"a".to_string()), "{hw}: {kept:?}");
        let a = on["on_chip"].as_array().expect("list").iter().find(|t| t["tensor"] == "a").expect("a");
        assert_eq!(a["readers"], serde_json::json!(["b", "sum"]), "{hw}");
        // Each kept tensor saves its write and one read per reader; `a` alone: 1 + 2.
        let saved: u64 = on["on_chip"]
            .as_array()
            .expect("list")
            .iter()
            .map(|t| t["bytes"].as_u64().expect("bytes") * (1 + t["readers"].as_array().expect("readers").len() as u64))
            .sum();
        let ((r_on, w_on), (r_off, w_off)) = (dram(&on), dram(&off));
        assert_eq!((r_off + w_off) - (r_on + w_on), saved, "{hw}");
        assert_eq!(
            bytes(layer(&off, "sum")).0 - bytes(layer(&on, "sum")).0,
            kept.iter().filter(|t| *t == "a" || *t == "b").count() as u64 * a_bytes(8),
            "{hw}: the add's reads"
        );
        assert_sums(&on);
    }
    // `a` is also read by a reshape (a view; its reader then reads `a`'s bytes in DRAM).
    let view = "[[layer]]\nname = \"flat\"\nop = \"reshape\"\nshape = [1, -1]\ninputs = [\"a\"]\n\n";
    let fc = "[[layer]]\nname = \"head\"\nop = \"fc\"\nunits = 4\n\n";
    let net = model(dir.path(), "branch", &format!("{}{}{view}{fc}", conv("a", 16, None), conv("b", 16, None)));
    let (ok, _, err) = accelsim(&["run", "--hw", "dsp", "--model", &net, "--no-accuracy"]);
    if ok {
        let on = json_run(&["--hw", "dsp", "--model", &net, "--no-accuracy"]);
        assert!(!on_chip(&on).contains(&"a".to_string()), "a has a reader that cannot read it on chip");
        assert_sums(&on);
    } else {
        panic!("branch network: {err}");
    }
}

/// `--set onchip_reuse=true,false` sweeps the switch: each point equals `run` with and
/// without `--no-onchip-reuse`; a value other than true or false is refused by name.
#[test]
fn a_sweep_compares_reuse_on_and_off() {
    let (ok, out, err) =
        accelsim(&["sweep", "--hw", "dsp", "--model", "mnv1", "--set", "onchip_reuse=true,false", "--format", "json"]);
    assert!(ok, "{err}");
    let rows: Value = serde_json::from_str(&out).expect("json");
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    for (row, flags) in rows.iter().zip([&[][..], &["--no-onchip-reuse"][..]]) {
        let mut args = vec!["--hw", "dsp", "--model", "mnv1", "--no-accuracy"];
        args.extend_from_slice(flags);
        let run = json_run(&args);
        assert_eq!(row["onchip_reuse"], Value::String((flags.is_empty()).to_string()), "{row}");
        assert_eq!((row["dram_read_bytes"].as_u64(), row["dram_write_bytes"].as_u64()), {
            let (r, w) = dram(&run);
            (Some(r), Some(w))
        });
        assert_eq!(row["cycles"], run["totals"]["cycles"]);
    }
    let (ok, _, err) = accelsim(&["sweep", "--hw", "dsp", "--model", "mnv1", "--set", "onchip_reuse=1"]);
    assert!(!ok && err.contains("field takes true or false"), "{err}");
}

/// A SCALE-Sim `.cfg` keeps SCALE-Sim's semantics: every tensor through memory.
#[test]
fn a_scalesim_cfg_runs_without_reuse() {
    let dir = "tests/fixtures/scalesim/32x32_os";
    let (cfg, topo) = (format!("{dir}/scale.cfg"), format!("{dir}/conv_topology.csv"));
    let v = json_run(&["--hw", &cfg, "--model", &topo, "--no-accuracy"]);
    assert!(on_chip(&v).is_empty());
    assert!(v["notes"].to_string().contains("on-chip reuse across layers off"));
}
