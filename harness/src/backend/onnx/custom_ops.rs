//! Finding custom operators in an ONNX graph: nodes whose operator domain
//! is not one of the standard ONNX domains. `tidb_enable_model_custom_ops`
//! decides whether such a model may load.

use tract_onnx::pb;

/// Operator domains that the ONNX standard defines: the default domain
/// (empty or `ai.onnx`) and the traditional ML domain `ai.onnx.ml`.
pub const STANDARD_DOMAINS: [&str; 3] = ["", "ai.onnx", "ai.onnx.ml"];

/// One node that uses an operator outside the standard domains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomOpNode {
    /// Node name, or its position when the node has none.
    pub node: String,
    /// Operator domain, e.g. `com.microsoft`.
    pub domain: String,
    /// Operator type.
    pub op_type: String,
}

impl std::fmt::Display for CustomOpNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "node '{}' uses the custom operator {}.{}",
            self.node, self.domain, self.op_type
        )
    }
}

/// Returns every node of the main graph and its subgraphs whose operator
/// is neither standard nor a model-local function, in graph order.
pub fn find_custom_ops(model: &pb::ModelProto) -> Vec<CustomOpNode> {
    let local_functions: Vec<(&str, &str)> = model
        .functions
        .iter()
        .map(|f| {
            (
                f.domain.as_deref().unwrap_or(""),
                f.name.as_deref().unwrap_or(""),
            )
        })
        .collect();
    let mut found = Vec::new();
    if let Some(graph) = &model.graph {
        scan_graph(graph, &local_functions, &mut found);
    }
    found
}

fn scan_graph(
    graph: &pb::GraphProto,
    local_functions: &[(&str, &str)],
    found: &mut Vec<CustomOpNode>,
) {
    for (index, node) in graph.node.iter().enumerate() {
        let domain = node.domain.as_str();
        let is_local = local_functions.contains(&(domain, node.op_type.as_str()));
        if !STANDARD_DOMAINS.contains(&domain) && !is_local {
            let node_name = if node.name.is_empty() {
                format!("#{index} in graph '{}'", graph.name)
            } else {
                node.name.clone()
            };
            found.push(CustomOpNode {
                node: node_name,
                domain: domain.to_string(),
                op_type: node.op_type.clone(),
            });
        }
        for attribute in &node.attribute {
            for subgraph in attribute.g.iter().chain(&attribute.graphs) {
                scan_graph(subgraph, local_functions, found);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, domain: &str, op_type: &str) -> pb::NodeProto {
        pb::NodeProto {
            name: name.into(),
            domain: domain.into(),
            op_type: op_type.into(),
            ..Default::default()
        }
    }

    #[test]
    fn custom_domains_found_standard_skipped() {
        let model = pb::ModelProto {
            graph: Some(pb::GraphProto {
                name: "main".into(),
                node: vec![
                    node("a", "", "Add"),
                    node("b", "ai.onnx.ml", "LinearRegressor"),
                    node("c", "com.example", "Scale"),
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        let found = find_custom_ops(&model);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].to_string(),
            "node 'c' uses the custom operator com.example.Scale"
        );
    }

    #[test]
    fn local_function_is_not_custom() {
        let model = pb::ModelProto {
            graph: Some(pb::GraphProto {
                node: vec![node("f", "local", "Twice")],
                ..Default::default()
            }),
            functions: vec![pb::FunctionProto {
                name: Some("Twice".into()),
                domain: Some("local".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(find_custom_ops(&model).is_empty());
    }
}
