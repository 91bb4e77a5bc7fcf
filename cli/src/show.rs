//! `expertsteer show` and `expertsteer export-cvec`.

use clap::Args;
use expertsteer::steering::steerfile::SteerFile;
use expertsteer::steering::steering_io::write_control_vector;
use expertsteer::Result;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// A steering file (.steer) or a map (.esmap).
    pub file: PathBuf,
    /// Also print the MI matrix.
    #[arg(long)]
    pub mi: bool,
    /// Print only the steered target layers, comma separated (for scripts).
    #[arg(long)]
    pub layers_only: bool,
}

pub fn show(a: ShowArgs) -> Result<()> {
    if is_map(&a.file) {
        super::map::print_summary(&expertsteer::map::MapFile::read(&a.file)?);
        return Ok(());
    }
    let f = SteerFile::read(&a.file)?;
    if a.layers_only {
        let l: Vec<String> = f
            .layers
            .iter()
            .map(|l| l.target_layer.to_string())
            .collect();
        outln!("{}", l.join(","));
        return Ok(());
    }
    outln!("method:    {}", f.method);
    let who = |m: &expertsteer::steering::steerfile::ModelIdentity| {
        format!(
            "{} ({}, {} blocks x {}, sha256 {}…)",
            m.file_name,
            m.arch,
            m.n_layer,
            m.n_embd,
            prefix(&m.sha256, 12)
        )
    };
    outln!("target:    {}", who(&f.target));
    if let Some(e) = &f.expert {
        outln!("expert:    {}", who(e));
    }
    outln!(
        "texts:     {} (sha256 {}…)",
        f.n_texts,
        prefix(&f.data_sha256, 12)
    );
    outln!(
        "strength:  {} (default c; s_j = c · r_j)",
        f.default_strength
    );
    // Files fitted through a map record each layer's held-out R².
    let r2: std::collections::BTreeMap<usize, String> = f
        .params
        .get("map_r2")
        .map(|s| {
            s.split(',')
                .filter_map(|kv| kv.split_once(':'))
                .filter_map(|(k, v)| Some((k.parse().ok()?, v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let (r2_head, r2_rule) = if r2.is_empty() {
        ("", "")
    } else {
        (" map R² (held out) |", "---|")
    };
    outln!("| target layer | expert layer | MI (nats) | val AUC | r_j (mean norm) |{r2_head}");
    outln!("|---|---|---|---|---|{r2_rule}");
    for l in &f.layers {
        let opt = |v: Option<f64>, p: usize| v.map_or("-".into(), |x| format!("{x:.p$}"));
        let r2_cell = if r2.is_empty() {
            String::new()
        } else {
            format!(" {} |", r2.get(&l.target_layer).map_or("-", |s| s.as_str()))
        };
        outln!(
            "| {} | {} | {} | {} | {:.2} |{r2_cell}",
            l.target_layer,
            l.expert_layer.map_or("-".into(), |e| e.to_string()),
            opt(l.mi, 3),
            opt(l.val_auc, 3),
            l.mean_norm
        );
    }
    outln!("parameters:");
    for (k, v) in &f.params {
        outln!("  {k} = {v}");
    }
    if let (true, Some(mi)) = (a.mi, &f.mi) {
        outln!(
            "MI matrix (rows: expert layers {:?}, columns: target layers {:?}):",
            mi.expert_layers,
            mi.target_layers
        );
        // validate() guarantees rows x columns values; zip and max(1)
        // keep this loop safe even without it.
        let rows = mi.values.chunks(mi.target_layers.len().max(1));
        for (e, row) in mi.expert_layers.iter().zip(rows) {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:5.2}")).collect();
            outln!("  {e:>3}: {}", cells.join(" "));
        }
    }
    Ok(())
}

/// Whether `path` starts with the map file's magic.
fn is_map(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"ESMAP\0\0\0"
}

/// The first `n` characters of `s` (never a byte slice, which could cut
/// a character in two).
fn prefix(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A steering file (.steer).
    pub file: PathBuf,
    /// c in s_j = c · r_j (default: the file's).
    #[arg(long, allow_hyphen_values = true)]
    pub strength: Option<f32>,
    /// Output control-vector GGUF, for `llama-cli --control-vector FILE`.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn export(a: ExportArgs) -> Result<()> {
    let f = SteerFile::read(&a.file)?;
    let cv = f.to_control_vector(a.strength)?;
    write_control_vector(&cv, &a.out)?;
    let layers: Vec<String> = cv.directions.keys().map(|l| l.to_string()).collect();
    errln!(
        "wrote {} (direction.{{{}}}, n_embd {}, strength {})",
        a.out.display(),
        layers.join(","),
        cv.n_embd,
        a.strength.unwrap_or(f.default_strength)
    );
    Ok(())
}
