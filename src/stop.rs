//! Stop strings, the one mechanism for both of their users: [`first_stop`]
//! finds the earliest stop string in a text (HumanEval's completions are
//! cut with it while [`crate::generate::generate_until`] streams), and
//! [`StopScan`] applies it to streamed text for the server: text is
//! released only once it can no longer turn out to be the start of a stop
//! string, so a stream never shows part of a stop sequence that the final
//! answer then cuts off.

/// Byte offset of the earliest stop string in `text`, if any (empty stop
/// strings are the caller's to leave out: one would match at 0).
pub fn first_stop<S: AsRef<str>>(text: &str, stops: &[S]) -> Option<usize> {
    stops.iter().filter_map(|s| text.find(s.as_ref())).min()
}

/// Scans generated text for the request's stop strings.
#[derive(Debug, Default)]
pub struct StopScan {
    stops: Vec<String>,
    /// Text generated but not yet released.
    held: String,
}

/// What one piece of new text gives.
#[derive(Debug, PartialEq, Eq)]
pub struct Scanned {
    /// Text safe to release now.
    pub text: String,
    /// A stop string was found: generation ends, nothing after it is kept.
    pub stopped: bool,
}

impl StopScan {
    /// A scanner for `stops` (empty strings are ignored).
    pub fn new(stops: &[String]) -> StopScan {
        StopScan {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
        }
    }

    /// Adds `piece`; returns what can be released and whether a stop hit.
    pub fn push(&mut self, piece: &str) -> Scanned {
        self.held.push_str(piece);
        if let Some(at) = first_stop(&self.held, &self.stops) {
            let text = self.held[..at].to_string();
            self.held.clear();
            return Scanned {
                text,
                stopped: true,
            };
        }
        // Keep back the longest tail that is a proper prefix of a stop string.
        let keep = self
            .stops
            .iter()
            .map(|s| longest_tail_prefix(&self.held, s))
            .max()
            .unwrap_or(0);
        let cut = self.held.len() - keep;
        let text = self.held[..cut].to_string();
        self.held.drain(..cut);
        Scanned {
            text,
            stopped: false,
        }
    }

    /// Everything still held (generation ended for another reason).
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

/// Length in bytes of the longest suffix of `text` that is a proper prefix
/// of `stop`, ending on a char boundary of both.
fn longest_tail_prefix(text: &str, stop: &str) -> usize {
    let max = (stop.len() - 1).min(text.len());
    (1..=max)
        .rev()
        .find(|&n| {
            text.is_char_boundary(text.len() - n)
                && stop.is_char_boundary(n)
                && text.ends_with(&stop[..n])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (Vec<String>, bool) {
        let mut s = StopScan::new(&stops.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let mut out = Vec::new();
        for p in pieces {
            let r = s.push(p);
            out.push(r.text);
            if r.stopped {
                return (out, true);
            }
        }
        out.push(s.finish());
        (out, false)
    }

    #[test]
    fn a_stop_split_over_pieces_is_never_released() {
        let (out, stopped) = run(&["\nUser:"], &["Hello", " there\n", "Us", "er: next"]);
        assert!(stopped);
        assert_eq!(out, vec!["Hello", " there", "", ""]);
    }

    #[test]
    fn a_false_start_is_released_once_it_diverges() {
        let (out, stopped) = run(&["END"], &["the E", "ND", "x"]);
        assert!(stopped);
        assert_eq!(out.concat(), "the ");
        let (out, stopped) = run(&["END"], &["the E", "nd."]);
        assert!(!stopped);
        assert_eq!(out, vec!["the ", "End.", ""]);
    }

    #[test]
    fn the_earliest_of_several_stops_wins() {
        let (out, _) = run(&["b", "a"], &["xxab"]);
        assert_eq!(out.concat(), "xx");
    }

    #[test]
    fn multibyte_text_is_cut_on_char_boundaries() {
        let (out, stopped) = run(&["é!"], &["caf", "é", "é!"]);
        assert!(stopped);
        assert_eq!(out.concat(), "café");
    }

    #[test]
    fn without_stops_everything_passes_through() {
        let (out, stopped) = run(&[], &["a", "b"]);
        assert!(!stopped);
        assert_eq!(out, vec!["a", "b", ""]);
    }
}
