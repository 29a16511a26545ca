//! What the command line prints: tables for people, JSON for scripts, CSV.
//!
//! Colour only when the stream is a terminal, never when `NO_COLOR` is set to
//! anything non-empty (<https://no-color.org>) or `TERM=dumb`. Tables have no
//! borders (columns separated by two spaces), so they read well in a terminal and
//! stay easy to `grep` and `cut`.

use std::io::IsTerminal;

use comfy_table::{Attribute, Cell, Color, Table};
use serde_json::Value;

/// Whether to colour a stream: only a terminal, and never with `NO_COLOR`
/// (non-empty) or `TERM=dumb`. Pure, so the rule is tested.
pub fn use_color(is_terminal: bool, no_color: Option<&str>, term: Option<&str>) -> bool {
    is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb")
}

fn env_color(is_terminal: bool) -> bool {
    let no_color = std::env::var("NO_COLOR").ok();
    let term = std::env::var("TERM").ok();
    use_color(is_terminal, no_color.as_deref(), term.as_deref())
}

/// How to print: JSON or tables, with or without colour.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// `--json`: print the API's JSON and nothing else on stdout.
    pub json: bool,
    /// Colour on stdout.
    pub color: bool,
    /// Colour on stderr (progress, warnings).
    pub err_color: bool,
}

impl Out {
    /// From the streams and the environment.
    pub fn detect(json: bool) -> Out {
        Out {
            json,
            color: env_color(std::io::stdout().is_terminal()),
            err_color: env_color(std::io::stderr().is_terminal()),
        }
    }

    /// A borderless table with `header`; styled only when stdout gets colour.
    pub fn table(&self, header: &[&str]) -> Table {
        let mut table = Table::new();
        table.load_preset(comfy_table::presets::NOTHING);
        if self.color {
            table.enforce_styling();
        } else {
            table.force_no_tty();
        }
        let header: Vec<Cell> = header
            .iter()
            .map(|h| Cell::new(h).add_attribute(Attribute::Bold))
            .collect();
        table.set_header(header);
        table
    }

    /// Prints `table` to stdout without the preset's leading space and trailing blanks.
    pub fn print_table(&self, table: &Table) {
        for line in table_lines(table) {
            println!("{line}");
        }
    }

    /// `status` as a cell: green when it succeeded, yellow when partial, red when failed.
    pub fn status_cell(&self, status: &str) -> Cell {
        match status_color(status) {
            Some(color) => Cell::new(status).fg(color),
            None => Cell::new(status),
        }
    }

    /// `text` in `color` on stdout (plain without colour).
    pub fn paint(&self, text: &str, color: Color) -> String {
        paint(self.color, text, color)
    }

    /// `status` coloured for stdout.
    pub fn status(&self, status: &str) -> String {
        paint_status(self.color, status)
    }

    /// `status` coloured for stderr.
    pub fn err_status(&self, status: &str) -> String {
        paint_status(self.err_color, status)
    }

    /// Pretty JSON on stdout.
    pub fn print_json(&self, value: &Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        );
    }
}

/// The lines of a borderless table: the preset's leading column of spaces removed,
/// trailing blanks trimmed.
pub fn table_lines(table: &Table) -> Vec<String> {
    table
        .lines()
        .map(|line| drop_leading_space(&line).trim_end().to_string())
        .collect()
}

/// `line` without its first space, which may come after colour sequences
/// (`ESC[…m`) when the table is styled.
fn drop_leading_space(line: &str) -> String {
    let mut rest = line;
    let mut codes = String::new();
    while let Some(after) = rest.strip_prefix("\x1b[") {
        let Some(end) = after.find(|c: char| c.is_ascii_alphabetic()) else {
            break;
        };
        let len = "\x1b[".len() + end + 1;
        codes.push_str(rest.get(..len).unwrap_or_default());
        rest = rest.get(len..).unwrap_or_default();
    }
    format!("{codes}{}", rest.strip_prefix(' ').unwrap_or(rest))
}

/// A run status's colour: green when it succeeded, yellow when partial, red when
/// failed, cyan while it runs.
pub fn status_color(status: &str) -> Option<Color> {
    match status {
        "succeeded" => Some(Color::Green),
        "partial" => Some(Color::Yellow),
        "failed" => Some(Color::Red),
        "queued" | "extracting" | "loading" => Some(Color::Cyan),
        _ => None,
    }
}

/// `status` in its colour when `enabled`.
pub fn paint_status(enabled: bool, status: &str) -> String {
    match status_color(status) {
        Some(color) => paint(enabled, status, color),
        None => status.to_string(),
    }
}

/// `text` wrapped in the ANSI sequence of `color` when `enabled`.
pub fn paint(enabled: bool, text: &str, color: Color) -> String {
    if !enabled {
        return text.to_string();
    }
    let code = match color {
        Color::Red => 31,
        Color::Green => 32,
        Color::Yellow => 33,
        Color::Blue => 34,
        Color::Magenta => 35,
        Color::Cyan => 36,
        Color::DarkGrey => 90,
        _ => 39,
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// `1234567` → `1,234,567`.
pub fn number(n: u64) -> String {
    let digits = n.to_string();
    let first = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        r => r,
    };
    let (head, tail) = digits.split_at(first);
    let mut out = head.to_string();
    for group in tail.as_bytes().chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(group).unwrap_or_default());
    }
    out
}

/// Seconds as `45s`, `3m 05s`, `2h 03m`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Dollars with enough digits to see a fraction of a cent: `$0.0000123`, `$1.23`.
pub fn dollars(x: f64) -> String {
    if x == 0.0 {
        "$0".to_string()
    } else if x >= 1.0 {
        format!("${x:.2}")
    } else if x >= 0.01 {
        format!("${x:.4}")
    } else {
        format!("${x:.7}")
    }
}

/// A JSON value as a cell's text: strings bare, `null` as `-`, the rest as JSON.
pub fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        let cases = [
            (true, None, Some("xterm-256color"), true),
            (true, Some(""), None, true),
            (true, Some("1"), Some("xterm"), false),
            (true, None, Some("dumb"), false),
            (false, None, Some("xterm"), false),
        ];
        for (tty, no_color, term, want) in cases {
            assert_eq!(
                use_color(tty, no_color, term),
                want,
                "{tty} {no_color:?} {term:?}"
            );
        }
    }

    #[test]
    fn numbers_durations_and_dollars() {
        assert_eq!(number(0), "0");
        assert_eq!(number(999), "999");
        assert_eq!(number(20_000), "20,000");
        assert_eq!(number(1_234_567), "1,234,567");
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(185), "3m 05s");
        assert_eq!(duration(7380), "2h 03m");
        assert_eq!(dollars(0.0), "$0");
        assert_eq!(dollars(0.000_023_2), "$0.0000232");
        assert_eq!(dollars(0.0187), "$0.0187");
        assert_eq!(dollars(3.317), "$3.32");
    }

    #[test]
    fn tables_have_no_borders_styled_or_not() {
        let out = Out {
            json: false,
            color: false,
            err_color: false,
        };
        let mut t = out.table(&["NAME", "STATUS"]);
        t.add_row(vec![Cell::new("users"), out.status_cell("partial")]);
        let lines = table_lines(&t);
        assert_eq!(lines, vec!["NAME   STATUS", "users  partial"]);
        let coloured = Out { color: true, ..out };
        let mut t = coloured.table(&["STATUS"]);
        t.add_row(vec![coloured.status_cell("failed")]);
        let lines = table_lines(&t);
        assert!(lines[1].contains("\x1b["), "{lines:?}");
        // The preset's leading space goes, colour sequences or not.
        assert!(
            lines.iter().all(|l| !strip_ansi(l).starts_with(' ')),
            "{lines:?}"
        );
    }

    fn strip_ansi(s: &str) -> String {
        let mut out = String::new();
        let mut in_code = false;
        for c in s.chars() {
            match (in_code, c) {
                (false, '\x1b') => in_code = true,
                (true, c) if c.is_ascii_alphabetic() => in_code = false,
                (true, _) => {}
                (false, c) => out.push(c),
            }
        }
        out
    }
}
