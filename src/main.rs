//! `expertsteer`: the command-line tool. Flags become library calls; errors
//! are printed once, here.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Most errors embed their source's text (or are transparent):
            // a cause is printed only when it says something not yet said.
            let mut said = e.to_string();
            cli::out::stderr(format_args!("error: {said}\n"));
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                let text = s.to_string();
                if !text.is_empty() && !said.contains(&text) {
                    cli::out::stderr(format_args!("  caused by: {text}\n"));
                    said.push('\n');
                    said.push_str(&text);
                }
                src = s.source();
            }
            ExitCode::FAILURE
        }
    }
}
