//! `expertsteer inspect`.

use super::options::ModelOpts;
use clap::Args;
use expertsteer::Result;

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// Also print every metadata key.
    #[arg(long)]
    pub metadata: bool,
}

pub fn run(a: InspectArgs) -> Result<()> {
    let m = a.model.load()?;
    outln!("file:          {}", m.path().display());
    outln!("description:   {}", m.description());
    outln!("architecture:  {}", m.arch());
    let n = m.n_layer();
    let layers = match n {
        0 => "none".to_string(),
        1 => "layer 0 only; the control-vector path cannot steer block 0, the callback can"
            .to_string(),
        _ => format!("layers 0..{}; steerable 1..{}", n - 1, n - 1),
    };
    outln!("blocks:        {n} ({layers})");
    outln!("n_embd:        {}", m.n_embd());
    outln!("vocabulary:    {}", m.n_vocab());
    outln!("parameters:    {}", m.n_params());
    outln!("weights:       {:.1} MB", m.size_bytes() as f64 / 1e6);
    outln!("trained ctx:   {}", m.n_ctx_train());
    outln!(
        "chat template: {}",
        if m.chat_template().is_some() {
            "yes"
        } else {
            "no"
        }
    );
    let ok = m.supports_layer_steering()?;
    outln!(
        "l_out steering: {}",
        if ok {
            "supported (graph names l_out-N for every block)"
        } else {
            "NOT supported: this architecture's graph does not name l_out-N"
        }
    );
    if a.metadata {
        for (k, v) in m.metadata() {
            outln!("  {k} = {v}");
        }
    }
    Ok(())
}
