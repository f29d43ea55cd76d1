//! How the demo writes to the terminal: step headers and a few colours, which are left out
//! when stdout is not a terminal or `NO_COLOR` is set, so piped output is plain text.

use std::io::IsTerminal;

/// The emphasis of a piece of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A success.
    Good,
    /// A failure.
    Bad,
    /// Secondary detail.
    Dim,
    /// A heading.
    Bold,
}

/// Where the demo's output goes.
#[derive(Debug, Clone, Copy)]
pub struct Terminal {
    colour: bool,
}

impl Terminal {
    /// Colours only for a terminal, and never when `NO_COLOR` is set (no-color.org).
    pub fn detect() -> Self {
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Self {
            colour: std::io::stdout().is_terminal() && !no_colour,
        }
    }

    /// `text` in `tone`, or unchanged without colours.
    pub fn paint(&self, text: &str, tone: Tone) -> String {
        if !self.colour {
            return text.to_owned();
        }
        let code = match tone {
            Tone::Good => "32",
            Tone::Bad => "31",
            Tone::Dim => "2",
            Tone::Bold => "1",
        };
        format!("\u{1b}[{code}m{text}\u{1b}[0m")
    }

    /// Prints the header of step `number` of `total`, and the API calls the step makes.
    pub fn step(&self, number: usize, total: usize, title: &str, calls: &str) {
        println!();
        println!(
            "{}",
            self.paint(&format!("[{number}/{total}] {title}"), Tone::Bold)
        );
        if !calls.is_empty() {
            println!("      {}", self.paint(calls, Tone::Dim));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_output_carries_no_escape_codes() {
        let plain = Terminal { colour: false };
        assert_eq!(plain.paint("failed", Tone::Bad), "failed");
        let coloured = Terminal { colour: true };
        assert_eq!(coloured.paint("ok", Tone::Good), "\u{1b}[32mok\u{1b}[0m");
    }
}
