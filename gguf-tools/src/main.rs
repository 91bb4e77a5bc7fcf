//! `gguf-tools`: inspect GGUF files and control vectors, write test models.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use gguf_tools::report::{cvec_report, info_report};
use gguf_tools::{BertFixture, ControlVector, GgufError, GgufFile, LlamaFixture, Result};

/// Inspect GGUF files and llama.cpp control vectors, and write tiny test
/// models.
#[derive(Debug, Parser)]
#[command(name = "gguf-tools", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a GGUF file's header, metadata and tensor table.
    ///
    /// Long arrays (such as tokenizer vocabularies) are cut short, showing
    /// how many elements were left out.
    Info {
        /// The GGUF file to inspect.
        file: PathBuf,
        /// Most array elements to print per metadata key.
        #[arg(long, default_value_t = 8)]
        max_array: usize,
    },
    /// Check a llama.cpp control vector and print its layers and norms.
    ///
    /// Tensor direction.K steers the output of 0-based block K (graph
    /// tensor l_out-K).
    CvecInfo {
        /// The control vector GGUF file.
        file: PathBuf,
    },
    /// Write a tiny random-weight model that llama.cpp can load.
    ///
    /// The vocabulary is 260 byte-level SentencePiece tokens, so any text
    /// tokenizes. All weights are F32 and deterministic given --seed.
    Fixture {
        /// Where to write the model.
        #[arg(long)]
        out: PathBuf,
        /// Architecture: a llama decoder, or a BERT encoder (whose graph
        /// never names l_out-N, so steering must refuse it).
        #[arg(long, value_enum, default_value_t = FixtureArch::Llama)]
        arch: FixtureArch,
        /// Embedding size (a multiple of --n-head with an even head size).
        #[arg(long, default_value_t = 64)]
        n_embd: u32,
        /// Number of transformer blocks.
        #[arg(long, default_value_t = 2)]
        n_layer: u32,
        /// Attention heads.
        #[arg(long, default_value_t = 4)]
        n_head: u32,
        /// Key/value heads (must divide --n-head); defaults to --n-head.
        /// Llama only.
        #[arg(long)]
        n_head_kv: Option<u32>,
        /// Feed-forward hidden size; defaults to 2 * --n-embd.
        #[arg(long)]
        n_ff: Option<u32>,
        /// Training context length.
        #[arg(long, default_value_t = 256)]
        n_ctx_train: u32,
        /// Seed of the weight generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// Architectures `gguf-tools fixture` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FixtureArch {
    /// A llama decoder that names l_out-N.
    Llama,
    /// A BERT encoder that never names l_out-N.
    Bert,
}

/// Prints to stdout without panicking when the reader has gone away
/// (e.g. `gguf-tools info model.gguf | head`).
fn emit(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info { file, max_array } => {
            let parsed = GgufFile::open(&file)?;
            emit(&info_report(&parsed, max_array));
        }
        Command::CvecInfo { file } => {
            let cv = ControlVector::read_cvec(&file)?;
            emit(&format!(
                "file:       {}\n{}",
                file.display(),
                cvec_report(&cv)
            ));
        }
        Command::Fixture {
            out,
            arch,
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            n_ff,
            n_ctx_train,
            seed,
        } => {
            let n_ff = n_ff.unwrap_or(n_embd.saturating_mul(2));
            let described = match arch {
                FixtureArch::Llama => {
                    let fx = LlamaFixture {
                        n_embd,
                        n_layer,
                        n_head,
                        n_head_kv: n_head_kv.unwrap_or(n_head),
                        n_ff,
                        n_ctx_train,
                        seed,
                    };
                    fx.write(&out)?;
                    format!("{fx:?}")
                }
                FixtureArch::Bert => {
                    if n_head_kv.is_some() {
                        return Err(GgufError::InvalidInput {
                            file: out.display().to_string(),
                            reason: "--n-head-kv applies only to --arch llama \
                                     (BERT has no grouped-query attention)"
                                .to_owned(),
                        });
                    }
                    let fx = BertFixture {
                        n_embd,
                        n_layer,
                        n_head,
                        n_ff,
                        n_ctx_train,
                        seed,
                    };
                    fx.write(&out)?;
                    format!("{fx:?}")
                }
            };
            let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            emit(&format!(
                "wrote {} ({size} bytes): {described}\n",
                out.display()
            ));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
