//! `expertsteer random-steer` and `expertsteer compare-directions`: the
//! random-direction control and the cosine check of mapped directions
//! against the target's own.

use clap::Args;
use expertsteer::pipeline::direction_check::{layer_cosines, random_cosine, random_like};
use expertsteer::steering::steerfile::SteerFile;
use expertsteer::Result;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct RandomSteerArgs {
    /// The file whose target, layers, r_j and default strength are copied.
    #[arg(long)]
    pub like: PathBuf,
    /// Seed of the random directions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output steering file.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn random_steer(a: RandomSteerArgs) -> Result<()> {
    let like = SteerFile::read(&a.like)?;
    let f = random_like(&like, a.seed);
    f.write(&a.out)?;
    let layers: Vec<String> = f
        .layers
        .iter()
        .map(|l| l.target_layer.to_string())
        .collect();
    outln!(
        "wrote {} (random unit directions at layers {}, seed {})",
        a.out.display(),
        layers.join(","),
        a.seed
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Steering files to check (e.g. ExpertSteer fits).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The target's own directions at every layer the files steer, e.g.
    /// `fit --method caa --target-layers 1-29`; repeatable.
    #[arg(long = "reference", required = true)]
    pub references: Vec<PathBuf>,
    /// Random directions drawn for the |cosine| distribution.
    #[arg(long, default_value_t = 10000)]
    pub random_draws: usize,
}

pub fn compare(a: CompareArgs) -> Result<()> {
    let refs = a
        .references
        .iter()
        .map(|p| Ok((stem(p), SteerFile::read(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<&str> = refs.iter().map(|(n, _)| n.as_str()).collect();
    outln!(
        "| file | target layer | expert layer | val AUC | {} |",
        names
            .iter()
            .map(|n| format!("cos to {n}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    outln!("|---|---|---|---|{}", "---|".repeat(names.len()));
    let mut d = None;
    for p in &a.files {
        let f = SteerFile::read(p)?;
        d = Some(f.target.n_embd);
        let per_ref = refs
            .iter()
            .map(|(_, r)| layer_cosines(&f, r))
            .collect::<Result<Vec<_>>>()?;
        for (k, l) in f.layers.iter().enumerate() {
            let cells: Vec<String> = per_ref
                .iter()
                .map(|c| format!("{:+.3}", c[k].cosine))
                .collect();
            outln!(
                "| {} | {} | {} | {} | {} |",
                stem(p),
                l.target_layer,
                l.expert_layer.map_or("-".into(), |e| e.to_string()),
                l.val_auc.map_or("-".into(), |v| format!("{v:.3}")),
                cells.join(" | ")
            );
        }
    }
    if let Some(d) = d {
        let r = random_cosine(d, a.random_draws, 1);
        outln!(
            "\nrandom unit directions in {d} dimensions ({} draws): |cos| mean {:.3}, median {:.3}, 95th percentile {:.3}, 99th {:.3}",
            r.n, r.mean_abs, r.p50, r.p95, r.p99
        );
    }
    Ok(())
}

fn stem(p: &std::path::Path) -> String {
    p.file_stem().map_or_else(
        || p.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}
