//! Resource variables (streaming models): VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE and
//! CALL_ONCE, read into the graph's states ([`crate::ir::StateVar`]).
//!
//! LiteRT keeps one resource per `(container, shared_name)` of a VAR_HANDLE, shared by all
//! subgraphs and alive across invocations; ASSIGN_VARIABLE copies a tensor into it,
//! READ_VARIABLE copies it out, and CALL_ONCE runs its initialization subgraph on the first
//! invocation only (the converter puts the variables' initial ASSIGN_VARIABLEs of constants
//! there). Here each variable becomes a state: its initial value is what the CALL_ONCE
//! subgraph assigns, its shape, type and quantization those of that value (or, without one,
//! of the first value the main subgraph assigns), every READ_VARIABLE a read layer and every
//! ASSIGN_VARIABLE an assignment layer. VAR_HANDLE and CALL_ONCE make no layer.

use std::collections::HashMap;

use super::generated::tflite as fb;
use super::{codes, vec_i32, Importer, Res};
use crate::import::unsupported::{Place, Unsupported};
use crate::ir::{
    Activation, Graph, Layer, Op, StateAccess, StateOp, StateVar, Tensor, TensorData, TensorId, TensorKind,
};

/// What the import knows of the model's variables so far.
#[derive(Default)]
pub(super) struct Variables {
    /// Per VAR_HANDLE output of the main subgraph (its tensor index), the variable's key.
    handles: HashMap<usize, String>,
    /// Per variable key, its state index in the graph.
    states: HashMap<String, usize>,
    /// Per state, the tensor holding its current value in the invocation.
    current: Vec<TensorId>,
    /// Per variable key, the constant a CALL_ONCE subgraph assigns it.
    inits: HashMap<String, Tensor>,
}

/// A variable's key: LiteRT's `(container, shared_name)`.
fn key(opts: Option<fb::BuiltinOptionsRef<'_>>) -> Result<(String, String), planus::Error> {
    match opts {
        Some(fb::BuiltinOptionsRef::VarHandleOptions(o)) => {
            let container = o.container()?.unwrap_or("").to_string();
            let name = o.shared_name()?.unwrap_or("").to_string();
            Ok((format!("{container}/{name}"), name))
        }
        _ => Ok(("/".into(), String::new())),
    }
}

/// The built-in operator of an operator (`None` for an unknown code).
fn builtin(op: &fb::OperatorRef<'_>, codes: &[fb::OperatorCodeRef<'_>]) -> Result<Option<fb::BuiltinOperator>, String> {
    let idx = op.opcode_index().map_err(|e| e.to_string())? as usize;
    let code = codes.get(idx).ok_or_else(|| format!("opcode index {idx} out of range"))?;
    let dep = code.deprecated_builtin_code().map_err(|e| e.to_string())? as i32;
    let num = dep.max(code.builtin_code().ok().map_or(0, |b| b as i32));
    Ok(fb::BuiltinOperator::try_from(num).ok())
}

/// The model as the variable operators need it.
pub(super) struct ModelParts<'m, 'a> {
    pub subgraphs: &'m [fb::SubGraphRef<'a>],
    pub buffers: &'m [fb::BufferRef<'a>],
    pub codes: &'m [fb::OperatorCodeRef<'a>],
}

/// One operator of the main subgraph.
pub(super) struct VarOp<'o, 'a> {
    pub index: usize,
    pub op: fb::BuiltinOperator,
    pub inputs: &'o [Option<TensorId>],
    pub outputs: &'o [TensorId],
    pub opts: Option<fb::BuiltinOptionsRef<'a>>,
}

impl Importer<'_> {
    /// Reads one variable operator of the main subgraph into `g`.
    pub(super) fn variable_op(
        &self,
        g: &mut Graph,
        vars: &mut Variables,
        o: VarOp<'_, '_>,
        model: &ModelParts<'_, '_>,
        unsupported: &mut Unsupported,
    ) -> Res<()> {
        use fb::BuiltinOperator as B;
        let name = codes::builtin_name(o.op as i32);
        let inv = |m: String| self.invalid(format!("operator {} ({name}): {m}", o.index));
        let c = |e: planus::Error| self.corrupt(e);
        let input = |i: usize| o.inputs.get(i).copied().flatten().ok_or_else(|| inv(format!("missing input {i}")));
        let var_of = |vars: &Variables, h: TensorId| {
            vars.handles
                .get(&h.0)
                .cloned()
                .ok_or_else(|| inv(format!("input {} ('{}') is not the output of a VAR_HANDLE", h.0, g.tensor(h).name)))
        };
        match o.op {
            B::VarHandle => {
                let &[h] = o.outputs else { return Err(inv(format!("{} outputs, expected 1", o.outputs.len()))) };
                let (k, _) = key(o.opts).map_err(c)?;
                vars.handles.insert(h.0, k);
            }
            B::CallOnce => {
                let index = match o.opts {
                    Some(fb::BuiltinOptionsRef::CallOnceOptions(opts)) => opts.init_subgraph_index().map_err(c)?,
                    _ => return Err(inv("missing CallOnceOptions".into())),
                };
                let sg = usize::try_from(index)
                    .ok()
                    .filter(|&i| i > 0)
                    .and_then(|i| model.subgraphs.get(i))
                    .ok_or_else(|| inv(format!("initialization subgraph {index} does not exist")))?;
                self.init_subgraph(vars, o.index, index, sg, model, unsupported)?;
            }
            B::ReadVariable => {
                let (h, &[y]) = (input(0)?, o.outputs) else { return Err(inv("expects one output".into())) };
                let k = var_of(vars, h)?;
                let s = match vars.states.get(&k) {
                    Some(&s) => s,
                    None => match vars.inits.get(&k) {
                        Some(init) => new_state(g, vars, &k, init.clone()),
                        None => {
                            return Err(inv(format!(
                                "reads variable '{}' before any ASSIGN_VARIABLE, and no CALL_ONCE initializes it",
                                k.trim_start_matches('/')
                            )))
                        }
                    },
                };
                let x = vars.current[s];
                g.layers.push(layer(o.index, "read_variable", StateAccess::Read, s, x, y));
            }
            B::AssignVariable => {
                let (h, v) = (input(0)?, input(1)?);
                let k = var_of(vars, h)?;
                let s = match vars.states.get(&k) {
                    Some(&s) => s,
                    None => {
                        let template = vars.inits.get(&k).cloned().unwrap_or_else(|| g.tensor(v).clone());
                        new_state(g, vars, &k, template)
                    }
                };
                let st = g.tensor(g.states[s].tensor);
                let mut next = Tensor { name: format!("{}:assigned@op{}", g.states[s].name, o.index), ..st.clone() };
                next.data = None;
                let y = g.add_tensor(next);
                vars.current[s] = y;
                g.layers.push(layer(o.index, "assign_variable", StateAccess::Assign, s, v, y));
            }
            other => return Err(inv(format!("{other:?} is not a variable operator"))),
        }
        Ok(())
    }

    /// Reads CALL_ONCE's initialization subgraph `sg_index` (run by operator `at`): only
    /// VAR_HANDLEs and ASSIGN_VARIABLEs of constants, the variables' initial values.
    fn init_subgraph(
        &self,
        vars: &mut Variables,
        at: usize,
        sg_index: i32,
        sg: &fb::SubGraphRef<'_>,
        model: &ModelParts<'_, '_>,
        unsupported: &mut Unsupported,
    ) -> Res<()> {
        use fb::BuiltinOperator as B;
        let c = |e: planus::Error| self.corrupt(e);
        let inv =
            |m: String| self.invalid(format!("operator {at} (CALL_ONCE), initialization subgraph {sg_index}: {m}"));
        let tensors: Vec<fb::TensorRef<'_>> = match sg.tensors().map_err(c)? {
            Some(v) => v.iter().collect::<Result<_, _>>().map_err(c)?,
            None => Vec::new(),
        };
        let ops: Vec<fb::OperatorRef<'_>> = match sg.operators().map_err(c)? {
            Some(v) => v.iter().collect::<Result<_, _>>().map_err(c)?,
            None => Vec::new(),
        };
        let mut handles: HashMap<i32, String> = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            let bop = builtin(op, model.codes).map_err(|m| inv(format!("operator {i}: {m}")))?;
            let ins = vec_i32(op.inputs().map_err(c)?);
            let outs = vec_i32(op.outputs().map_err(c)?);
            match (bop, &ins[..], &outs[..]) {
                (Some(B::VarHandle), _, &[h]) => {
                    handles.insert(h, key(op.builtin_options().map_err(c)?).map_err(c)?.0);
                }
                (Some(B::AssignVariable), &[h, v], _) => {
                    let k = handles.get(&h).ok_or_else(|| inv(format!("operator {i}: input {h} is no VAR_HANDLE output")))?;
                    let t = usize::try_from(v)
                        .ok()
                        .and_then(|v| tensors.get(v))
                        .ok_or_else(|| inv(format!("operator {i}: tensor index {v} out of range")))?;
                    let value = match self.tensor(v as usize, t, model.buffers, false)? {
                        Ok(t) if t.data.is_some() => t,
                        Ok(t) => {
                            unsupported.push(
                                format!("operator CALL_ONCE whose subgraph {sg_index} assigns the computed tensor '{}' (constants only)", t.name),
                                Place::TfliteOperator(at),
                            );
                            continue;
                        }
                        Err((what, _)) => {
                            unsupported.push(format!("operator CALL_ONCE (subgraph {sg_index}: {what})"), Place::TfliteOperator(at));
                            continue;
                        }
                    };
                    if vars.states.contains_key(k) {
                        return Err(inv(format!(
                            "initializes variable '{}' after the main subgraph used it",
                            k.trim_start_matches('/')
                        )));
                    }
                    vars.inits.insert(k.clone(), value);
                }
                (bop, _, _) => unsupported.push(
                    format!(
                        "operator CALL_ONCE whose subgraph {sg_index} runs {} at its operator {i} (VAR_HANDLE and ASSIGN_VARIABLE of constants only)",
                        bop.map_or_else(|| "an unknown operator".to_string(), |b| codes::builtin_name(b as i32))
                    ),
                    Place::TfliteOperator(at),
                ),
            }
        }
        Ok(())
    }
}

/// Adds the state of variable `k` to `g`: `template`'s shape, type and quantization, its
/// values (if any) the initial value.
fn new_state(g: &mut Graph, vars: &mut Variables, k: &str, template: Tensor) -> usize {
    let name = k.trim_start_matches('/').to_string();
    let init: Option<TensorData> = template.data.clone();
    let t =
        g.add_tensor(Tensor { name: format!("{name}:state"), kind: TensorKind::Activation, data: None, ..template });
    g.states.push(StateVar { name, tensor: t, init });
    let s = g.states.len() - 1;
    vars.states.insert(k.to_string(), s);
    vars.current.push(t);
    s
}

fn layer(index: usize, what: &str, access: StateAccess, state: usize, x: TensorId, y: TensorId) -> Layer {
    Layer {
        name: format!("op{index}_{what}"),
        op: Op::State(StateOp { access, state }),
        inputs: vec![x],
        outputs: vec![y],
        activation: Activation::None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::finish_tfl3;
    use super::super::{import_tflite_bytes, ImportError};
    use super::fb;
    use crate::ir::{DataType, StateAccess};
    use planus::ReadAsRoot;

    fn fixture(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stateful").join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn owned(name: &str) -> fb::Model {
        let bytes = fixture(name);
        fb::ModelRef::read_as_root(&bytes).expect("read").try_into().expect("owned")
    }

    fn main_ops(m: &mut fb::Model) -> &mut Vec<fb::Operator> {
        m.subgraphs.as_mut().expect("subgraphs")[0].operators.as_mut().expect("operators")
    }

    #[test]
    fn variables_become_states_with_their_initial_values() {
        for (name, dtype) in [("kws_stream_f32.tflite", DataType::F32), ("kws_stream_int8.tflite", DataType::int(8))] {
            let g = import_tflite_bytes(&fixture(name), name).expect("import").graph;
            let names: Vec<&str> = g.states.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, ["buf2", "buf1"], "{name}: in the order the main subgraph reads them");
            for (i, s) in g.states.iter().enumerate() {
                let t = g.tensor(s.tensor);
                assert_eq!(t.dtype, dtype, "{name}: {}", s.name);
                assert_eq!(s.init.as_ref().map(|d| d.len() as u64), Some(t.elements()), "{name}: {}", s.name);
                // Read first, assigned last: the next invocation starts from the assignment.
                let fin = g.state_final(i).expect("state");
                let assign = g.layers.iter().find(|l| l.outputs == [fin]).expect("an assignment");
                assert!(matches!(assign.op, crate::ir::Op::State(o) if o.access == StateAccess::Assign));
            }
            // VAR_HANDLE and CALL_ONCE make no layer: 17 operators, 3 of them VAR_HANDLE / CALL_ONCE.
            assert_eq!(g.layers.len(), 14, "{name}");
        }
    }

    #[test]
    fn a_read_without_initialization_names_the_file_and_operator() {
        let mut m = owned("kws_stream_f32.tflite");
        main_ops(&mut m).remove(0); // CALL_ONCE
        let e = import_tflite_bytes(&finish_tfl3(&m), "nocall.tflite").expect_err("uninitialized read");
        let s = e.to_string();
        assert!(matches!(e, ImportError::Invalid { .. }), "{s}");
        assert!(
            s.contains("'nocall.tflite'")
                && s.contains("operator 2 (READ_VARIABLE)")
                && s.contains("reads variable 'buf2' before any ASSIGN_VARIABLE, and no CALL_ONCE initializes it"),
            "{s}"
        );
    }

    #[test]
    fn a_read_of_another_quantization_names_the_file_and_layer() {
        let mut m = owned("kws_stream_int8.tflite");
        let tensors = m.subgraphs.as_mut().expect("subgraphs")[0].tensors.as_mut().expect("tensors");
        // Tensor 15: READ_VARIABLE's output of buf2 (operator 3).
        let q = tensors[15].quantization.as_mut().expect("quantized");
        q.scale = Some(vec![0.5]);
        let e = import_tflite_bytes(&finish_tfl3(&m), "mismatch.tflite").expect_err("mismatch");
        let s = e.to_string();
        assert!(
            s.contains("'mismatch.tflite'")
                && s.contains("layer 'op3_read_variable'")
                && s.contains("does not match state 'buf2'"),
            "{s}"
        );
    }

    #[test]
    fn an_assignment_of_another_type_names_the_file_and_layer() {
        let mut m = owned("kws_stream_f32.tflite");
        let tensors = m.subgraphs.as_mut().expect("subgraphs")[0].tensors.as_mut().expect("tensors");
        // Tensor 25: the value operator 14 assigns to buf2, made [1, 1, 32] (same elements).
        tensors[25].shape = Some(vec![1, 1, 32]);
        let e = import_tflite_bytes(&finish_tfl3(&m), "shape.tflite").expect_err("mismatch");
        let s = e.to_string();
        assert!(
            s.contains("'shape.tflite'")
                && s.contains("layer 'op14_assign_variable'")
                && s.contains("[1, 1, 32]")
                && s.contains("does not match state 'buf2'"),
            "{s}"
        );
    }

    #[test]
    fn an_init_subgraph_that_computes_is_reported_at_call_once() {
        let mut m = owned("kws_stream_f32.tflite");
        // A CONV_2D (an opcode the main graph uses) appended to the init subgraph.
        let conv = m
            .operator_codes
            .as_ref()
            .expect("codes")
            .iter()
            .position(|c| c.builtin_code == fb::BuiltinOperator::Conv2d);
        let sg1 = m.subgraphs.as_mut().expect("subgraphs")[1].operators.as_mut().expect("operators");
        let mut op = sg1[0].clone();
        op.opcode_index = conv.expect("a CONV_2D opcode") as u32;
        sg1.push(op);
        let e = import_tflite_bytes(&finish_tfl3(&m), "init.tflite").expect_err("unsupported");
        let s = e.to_string();
        assert!(s.contains("CALL_ONCE") && s.contains("CONV_2D") && s.contains("operator index 0"), "{s}");
    }
}
