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
    println!("file:          {}", m.path().display());
    println!("description:   {}", m.description());
    println!("architecture:  {}", m.arch());
    println!(
        "blocks:        {} (layers 0..{}; steerable 1..{})",
        m.n_layer(),
        m.n_layer() - 1,
        m.n_layer() - 1
    );
    println!("n_embd:        {}", m.n_embd());
    println!("vocabulary:    {}", m.n_vocab());
    println!("parameters:    {}", m.n_params());
    println!("weights:       {:.1} MB", m.size_bytes() as f64 / 1e6);
    println!("trained ctx:   {}", m.n_ctx_train());
    println!(
        "chat template: {}",
        if m.chat_template().is_some() {
            "yes"
        } else {
            "no"
        }
    );
    let ok = m.supports_layer_steering()?;
    println!(
        "l_out steering: {}",
        if ok {
            "supported (graph names l_out-N for every block)"
        } else {
            "NOT supported: this architecture's graph does not name l_out-N"
        }
    );
    if a.metadata {
        for (k, v) in m.metadata() {
            println!("  {k} = {v}");
        }
    }
    Ok(())
}
