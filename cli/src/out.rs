//! Writing the tool's output. `println!` panics when stdout is a pipe whose
//! reader has gone (`expertsteer generate … | head -1`: "failed printing to
//! stdout: Broken pipe", exit 101). Here a closed reader ends the process
//! quietly with status 0, as ripgrep does: nobody is left to read the rest.
//! Any other write error is reported once and ends the process with 1.
//! Messages to stderr ignore write errors: they are for a person, and a
//! closed stderr must not stop the work.

use std::io::Write;

/// Writes formatted text to stdout and flushes it (output streams, e.g.
/// tokens as they are generated).
pub fn stdout(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        stderr(format_args!("error: writing to stdout: {e}\n"));
        std::process::exit(1);
    }
}

/// Writes formatted text to stderr, ignoring errors.
pub fn stderr(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `print!` that ends the process quietly when stdout's reader is gone.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::stdout(format_args!($($arg)*))
    };
}

/// `println!` that ends the process quietly when stdout's reader is gone.
macro_rules! outln {
    () => {
        $crate::out::stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that ignores a closed or broken stderr.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::out::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}
