//! Fit a steering file from a JSON Lines data file: ExpertSteer when an
//! expert is given, else the CAA baseline on the target's own states.
//!
//! ```text
//! cargo run --release --example fit_from_jsonl -- DATA.jsonl OUT.steer TARGET [EXPERT]
//! ```
//!
//! Each line of DATA is `{"text": ..., "label": 0|1, "group": ...}` or
//! `{"positive": ..., "negative": ...}`; `expertsteer data build` makes such
//! files from benchmarks.

use expertsteer::steerfile::Method;
use expertsteer::{fit_to_file, models, FitConfig};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, out, target, expert @ ..] = args.as_slice() else {
        return Err("usage: fit_from_jsonl DATA.jsonl OUT.steer TARGET [EXPERT]".into());
    };
    let target = models::resolve(target)?;
    let expert = expert.first().map(|e| models::resolve(e)).transpose()?;
    let cfg = FitConfig {
        method: if expert.is_some() {
            Method::ExpertSteer
        } else {
            Method::Caa
        },
        ..FitConfig::default()
    };
    let fitted = fit_to_file(
        expert.as_deref(),
        &target,
        Path::new(data),
        Path::new(out),
        &cfg,
        &mut |stage, done, total| eprint!("\r{stage}: {done}/{total}    "),
    )?;
    eprintln!();
    println!("wrote {out} ({} method)", fitted.file.method);
    for l in &fitted.layers {
        println!(
            "target layer {:>2}  expert layer {:>4}  validation AUC {}",
            l.target_layer,
            l.expert_layer.map_or("-".into(), |e| e.to_string()),
            l.val_auc.map_or("-".into(), |a| format!("{a:.3}"))
        );
    }
    Ok(())
}
