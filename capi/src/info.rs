//! A steering file's description as JSON (`es_steer_info_json`): what a
//! binding shows its users without parsing the binary format itself.

use expertsteer_core::steerfile::{ModelIdentity, SteerFile};
use serde_json::{json, Value};

fn model(m: &ModelIdentity) -> Value {
    json!({
        "arch": m.arch,
        "n_embd": m.n_embd,
        "n_layer": m.n_layer,
        "file_name": m.file_name,
        "sha256": m.sha256,
    })
}

/// An f32 as the f64 with the same shortest decimal form (0.1, not
/// 0.10000000149011612).
fn decimal(x: f32) -> Value {
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// Everything but the directions (`es_steer_directions` copies those).
pub(crate) fn describe(f: &SteerFile) -> String {
    let layers: Vec<Value> = f
        .layers
        .iter()
        .map(|l| {
            json!({
                "layer": l.target_layer,
                "expert_layer": l.expert_layer,
                "mean_norm": decimal(l.mean_norm),
                "val_auc": l.val_auc,
                "mi": l.mi,
            })
        })
        .collect();
    let mi = f.mi.as_ref().map(|m| {
        json!({
            "expert_layers": m.expert_layers,
            "target_layers": m.target_layers,
            "values": m.values,
        })
    });
    json!({
        "method": f.method.to_string(),
        "target": model(&f.target),
        "expert": f.expert.as_ref().map(model),
        "default_strength": decimal(f.default_strength),
        "n_texts": f.n_texts,
        "params": f.params,
        "layers": layers,
        "mi": mi,
    })
    .to_string()
}
