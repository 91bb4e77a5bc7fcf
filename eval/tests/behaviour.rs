//! `eval::behaviour` on the real default model: the log holds one row per
//! (cell, prompt), a re-run adds nothing, and a strong random direction
//! changes the text and raises its perplexity under the unsteered model.

#[path = "../../tests/common/mod.rs"]
mod common;

use expertsteer::direction_check::random_like;
use expertsteer::steerfile::{Method, SteerFile, SteerLayer};
use expertsteer_eval::behaviour::{
    read_behaviour_log, run_behaviour, BehaviourPlan, Prompt, UNSTEERED,
};
use expertsteer_eval::run::LabelledSteer;

#[test]
fn behaviour_log_is_complete_resumable_and_sees_a_strong_random_direction() {
    let model = common::smollm2();
    let id = model.identity().unwrap();
    let base = SteerFile {
        target: id.clone(),
        expert: None,
        method: Method::Caa,
        layers: [6, 12, 18]
            .iter()
            .map(|&j| SteerLayer {
                target_layer: j,
                expert_layer: None,
                direction: vec![0.0; id.n_embd],
                mean_norm: 20.0,
                val_auc: None,
                mi: None,
            })
            .collect(),
        default_strength: 0.1,
        params: Default::default(),
        mi: None,
        data_sha256: "ab".repeat(32),
        n_texts: 2,
    };
    let dir = common::scratch("behaviour");
    let log = dir.join("log.jsonl");
    let _ = std::fs::remove_file(&log);
    let plan = BehaviourPlan {
        steers: vec![LabelledSteer {
            label: "random".into(),
            file: random_like(&base, 5),
        }],
        strengths: vec![0.0, 3.0],
        prompts: vec![
            Prompt {
                id: "a".into(),
                text: "Tell me about your weekend.".into(),
            },
            Prompt {
                id: "b".into(),
                text: "Describe the weather today.".into(),
            },
        ],
        max_tokens: 12,
        threads: 1,
        log: log.clone(),
    };
    let n = run_behaviour(&model, &plan, &mut |_, _| {}).unwrap();
    assert_eq!(n, 4, "unsteered + one strength, two prompts");
    assert_eq!(run_behaviour(&model, &plan, &mut |_, _| {}).unwrap(), 0);
    let rows = read_behaviour_log(&log).unwrap();
    assert_eq!(rows.len(), 4);
    let get = |m: &str, p: &str| {
        rows.iter()
            .find(|r| r.method == m && r.prompt_id == p)
            .unwrap()
            .clone()
    };
    for p in ["a", "b"] {
        let (plain, steered) = (get(UNSTEERED, p), get("random", p));
        assert!(plain.n_tokens > 0 && plain.ppl.is_finite() && plain.ppl >= 1.0);
        assert_ne!(plain.text, steered.text, "prompt {p}");
        assert!(
            steered.ppl > plain.ppl,
            "prompt {p}: steered ppl {} vs unsteered {}",
            steered.ppl,
            plain.ppl
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
