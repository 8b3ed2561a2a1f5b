//! Finding nondeterministic operators in an ONNX graph.
//!
//! The scan reads the protobuf, not tract's graph, so it finds every node
//! the file declares: in the main graph, in subgraphs of control-flow
//! nodes (`If`, `Loop`, `Scan`) and in model-local functions.

use std::fmt;

use tract_onnx::pb;

/// Operators of the ONNX operator set (opset 28, onnx 1.23) that draw
/// random numbers. A `seed` attribute does not make them acceptable: ONNX
/// does not define the generator, so runtimes give different values.
pub const RANDOM_OPS: [&str; 6] = [
    "RandomNormal",
    "RandomNormalLike",
    "RandomUniform",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
];

/// One node whose output is nondeterministic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NondeterministicNode {
    /// Node name, or a description of its position when the node has none.
    pub node: String,
    /// ONNX operator type.
    pub op_type: String,
    /// Reason the node is nondeterministic.
    pub reason: &'static str,
}

impl fmt::Display for NondeterministicNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node '{}' uses the operator {}, which {}",
            self.node, self.op_type, self.reason
        )
    }
}

/// Returns every nondeterministic node of the model, in graph order.
pub fn find_nondeterministic(model: &pb::ModelProto) -> Vec<NondeterministicNode> {
    let opset = default_opset(&model.opset_import);
    let mut found = Vec::new();
    if let Some(graph) = &model.graph {
        scan_graph(graph, opset, &mut found);
    }
    for function in &model.functions {
        let name = function.name.as_deref().unwrap_or("");
        let function_opset = default_opset(&function.opset_import).or(opset);
        scan_nodes(
            &function.node,
            &format!("function '{name}'"),
            function_opset,
            &mut found,
        );
    }
    found
}

/// The version of the default (`ai.onnx`) operator set, if imported.
fn default_opset(imports: &[pb::OperatorSetIdProto]) -> Option<i64> {
    imports
        .iter()
        .find(|import| import.domain.is_empty() || import.domain == "ai.onnx")
        .map(|import| import.version)
}

fn scan_graph(graph: &pb::GraphProto, opset: Option<i64>, found: &mut Vec<NondeterministicNode>) {
    let constants: Vec<&pb::TensorProto> = graph.initializer.iter().collect();
    scan_nodes_with_constants(
        &graph.node,
        &format!("graph '{}'", graph.name),
        opset,
        &constants,
        found,
    );
}

fn scan_nodes(
    nodes: &[pb::NodeProto],
    scope: &str,
    opset: Option<i64>,
    found: &mut Vec<NondeterministicNode>,
) {
    scan_nodes_with_constants(nodes, scope, opset, &[], found);
}

fn scan_nodes_with_constants(
    nodes: &[pb::NodeProto],
    scope: &str,
    opset: Option<i64>,
    constants: &[&pb::TensorProto],
    found: &mut Vec<NondeterministicNode>,
) {
    for (index, node) in nodes.iter().enumerate() {
        let reason = if RANDOM_OPS.contains(&node.op_type.as_str()) {
            Some("draws random numbers")
        } else if node.op_type == "Dropout" && dropout_trains(node, opset, constants) {
            Some("drops random elements in training mode")
        } else {
            None
        };
        if let Some(reason) = reason {
            found.push(NondeterministicNode {
                node: node_label(node, index, scope),
                op_type: node.op_type.clone(),
                reason,
            });
        }

        for attribute in &node.attribute {
            for subgraph in attribute.g.iter().chain(&attribute.graphs) {
                scan_graph(subgraph, opset, found);
            }
        }
    }
}

fn node_label(node: &pb::NodeProto, index: usize, scope: &str) -> String {
    if !node.name.is_empty() {
        return node.name.clone();
    }
    match node.output.first() {
        Some(output) if !output.is_empty() => format!("#{index} (output '{output}') in {scope}"),
        _ => format!("#{index} in {scope}"),
    }
}

/// Returns whether a Dropout node runs in training mode, where it is random.
///
/// From opset 12 the third input `training_mode` selects it: the node is
/// deterministic (an identity) when the input is absent or is an
/// initializer holding `false`. Before opset 7 the `is_test` attribute
/// selects it, and training is the default. Opsets 7 to 11 have inference
/// Dropout only.
fn dropout_trains(
    node: &pb::NodeProto,
    opset: Option<i64>,
    constants: &[&pb::TensorProto],
) -> bool {
    if opset.is_some_and(|version| version < 7) {
        let is_test = node
            .attribute
            .iter()
            .find(|a| a.name == "is_test")
            .map(|a| a.i);
        return is_test != Some(1);
    }

    let Some(training_mode) = node.input.get(2).filter(|name| !name.is_empty()) else {
        return false;
    };
    let constant = constants
        .iter()
        .find(|tensor| &tensor.name == training_mode);
    !constant.is_some_and(|tensor| is_false_scalar(tensor))
}

fn is_false_scalar(tensor: &pb::TensorProto) -> bool {
    if !tensor.int32_data.is_empty() {
        return tensor.int32_data.iter().all(|v| *v == 0);
    }
    !tensor.raw_data.is_empty() && tensor.raw_data.iter().all(|b| *b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, op_type: &str, inputs: &[&str]) -> pb::NodeProto {
        pb::NodeProto {
            name: name.into(),
            op_type: op_type.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![format!("{name}_out")],
            ..Default::default()
        }
    }

    fn model(
        nodes: Vec<pb::NodeProto>,
        initializer: Vec<pb::TensorProto>,
        opset: i64,
    ) -> pb::ModelProto {
        pb::ModelProto {
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: opset,
            }],
            graph: Some(pb::GraphProto {
                name: "main".into(),
                node: nodes,
                initializer,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn bool_tensor(name: &str, value: bool) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            data_type: pb::tensor_proto::DataType::Bool as i32,
            raw_data: vec![u8::from(value)],
            ..Default::default()
        }
    }

    #[test]
    fn every_random_op_is_found() {
        for op in RANDOM_OPS {
            let found = find_nondeterministic(&model(vec![node("n", op, &["x"])], vec![], 17));
            assert_eq!(found.len(), 1, "{op} not found");
            assert_eq!(found[0].op_type, op);
            assert_eq!(found[0].node, "n");
        }
    }

    #[test]
    fn deterministic_ops_pass() {
        let nodes = vec![
            node("a", "Mul", &["x", "w"]),
            node("b", "Add", &["a_out", "b"]),
        ];
        assert!(find_nondeterministic(&model(nodes, vec![], 17)).is_empty());
    }

    #[test]
    fn dropout_inference_mode_passes() {
        let plain = node("d", "Dropout", &["x"]);
        assert!(find_nondeterministic(&model(vec![plain], vec![], 17)).is_empty());

        let with_false = node("d", "Dropout", &["x", "", "mode"]);
        let found = find_nondeterministic(&model(
            vec![with_false],
            vec![bool_tensor("mode", false)],
            17,
        ));
        assert!(found.is_empty());
    }

    #[test]
    fn dropout_training_mode_found() {
        let with_true = node("d", "Dropout", &["x", "", "mode"]);
        let found =
            find_nondeterministic(&model(vec![with_true], vec![bool_tensor("mode", true)], 17));
        assert_eq!(found.len(), 1);

        let from_input = node("d", "Dropout", &["x", "", "runtime_flag"]);
        assert_eq!(
            find_nondeterministic(&model(vec![from_input], vec![], 17)).len(),
            1
        );
    }

    #[test]
    fn dropout_old_opset_defaults_to_training() {
        let old = node("d", "Dropout", &["x"]);
        assert_eq!(
            find_nondeterministic(&model(vec![old.clone()], vec![], 6)).len(),
            1
        );

        let mut test_mode = old;
        test_mode.attribute.push(pb::AttributeProto {
            name: "is_test".into(),
            i: 1,
            ..Default::default()
        });
        assert!(find_nondeterministic(&model(vec![test_mode], vec![], 6)).is_empty());
    }

    #[test]
    fn random_op_in_function_found() {
        let mut proto = model(vec![node("call", "Noisy", &["x"])], vec![], 17);
        proto.functions.push(pb::FunctionProto {
            name: Some("Noisy".into()),
            node: vec![pb::NodeProto {
                op_type: "RandomUniformLike".into(),
                output: vec!["noise".into()],
                ..Default::default()
            }],
            ..Default::default()
        });
        let found = find_nondeterministic(&proto);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].node, "#0 (output 'noise') in function 'Noisy'");
    }
}
