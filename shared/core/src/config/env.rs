//! `${VAR}` expansion, line by line so that YAML errors still point at the line the
//! user wrote.
//!
//! Rules: `${NAME}` with `NAME` = `[A-Za-z_][A-Za-z0-9_]*` is replaced by the
//! variable's value; `$${` is a literal `${`; any other `$` is kept as is. Comments
//! (a `#` at the start of a line or after whitespace, outside quotes) are copied
//! unexpanded, so a commented-out line that names an unset variable is no error.

use crate::Error;

/// Expands every `${VAR}` in `text`; `file` names the config in errors.
pub(super) fn expand(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    // `split_inclusive` keeps each line's `\n`, so the output has the same lines.
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let line_no = i + 1;
        let (code, comment) = line.split_at(comment_start(line));
        expand_line(code, &mut out, &|var| {
            env(var).ok_or_else(|| Error::MissingEnv {
                file: file.to_string(),
                line: line_no,
                var: var.to_string(),
            })
        })
        .map_err(|e| match e {
            LineError::Env(e) => e,
            LineError::Syntax(message) => Error::Config {
                file: file.to_string(),
                line: Some(line_no),
                message,
            },
        })?;
        out.push_str(comment);
    }
    Ok(out)
}

enum LineError {
    Env(Error),
    Syntax(String),
}

fn expand_line(
    line: &str,
    out: &mut String,
    lookup: &dyn Fn(&str) -> Result<String, Error>,
) -> Result<(), LineError> {
    let mut rest = line;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or_else(|| {
                LineError::Syntax(format!(
                    "`${{` without a closing `}}` (write `$${{` for a literal `${{`): {}",
                    line.trim_end()
                ))
            })?;
            let name = &tail[..end];
            if !is_var_name(name) {
                return Err(LineError::Syntax(format!(
                    "`${{{name}}}` is not a valid variable name (letters, digits and `_`, \
                     not starting with a digit; write `$${{` for a literal `${{`)"
                )));
            }
            out.push_str(&lookup(name).map_err(LineError::Env)?);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(())
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Byte offset where the line's YAML comment starts (the line's length if none).
/// A heuristic, per line: good for the config's plain and quoted one-line scalars;
/// inside a block scalar (`sql: |`) a `#` is text to YAML, and the only effect of
/// treating it as a comment here is that `${...}` after it is not expanded.
fn comment_start(line: &str) -> usize {
    let mut quote: Option<char> = None;
    let mut prev: Option<char> = None;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => {
                let at_token_start =
                    prev.is_none_or(|p| p.is_whitespace() || matches!(p, ':' | '[' | '{' | ','));
                if (c == '"' || c == '\'') && at_token_start {
                    quote = Some(c);
                } else if c == '#' && prev.is_none_or(char::is_whitespace) {
                    return i;
                }
            }
        }
        prev = Some(c);
    }
    line.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        match var {
            "HOME_DIR" => Some("/home/ann".into()),
            "_x1" => Some("one".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands() {
        let cases = [
            ("path: ${HOME_DIR}/db\n", "path: /home/ann/db\n"),
            ("a: ${_x1}${_x1} ${EMPTY}.\n", "a: oneone .\n"),
            (
                "price: $5 and $$ and $HOME_DIR\n",
                "price: $5 and $$ and $HOME_DIR\n",
            ),
            ("lit: $${HOME_DIR}\n", "lit: ${HOME_DIR}\n"),
            // Leftmost first: `$` then the `$${` escape.
            ("lit: $$${HOME_DIR}\n", "lit: $${HOME_DIR}\n"),
            ("# url: ${UNSET}\n", "# url: ${UNSET}\n"),
            (
                "a: ${HOME_DIR} # not ${UNSET}\n",
                "a: /home/ann # not ${UNSET}\n",
            ),
            ("a: \"x # ${HOME_DIR}\"\n", "a: \"x # /home/ann\"\n"),
            ("a: b#${HOME_DIR}\n", "a: b#/home/ann\n"),
            ("no newline ${_x1}", "no newline one"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, "f.yaml", &env).unwrap(), want, "{input:?}");
        }
    }

    #[test]
    fn missing_variable_names_it_and_its_line() {
        let text = "a: 1\nb: 2\n  c: x-${NOPE}-y\n";
        assert_eq!(
            expand(text, "f.yaml", &env),
            Err(Error::MissingEnv {
                file: "f.yaml".into(),
                line: 3,
                var: "NOPE".into()
            })
        );
        let e = expand(text, "f.yaml", &env).unwrap_err().to_string();
        assert_eq!(e, "f.yaml:3: environment variable `NOPE` is not set");
    }

    #[test]
    fn malformed_references_are_errors_with_line() {
        for text in ["a: 1\nb: ${OPEN\n", "a: 1\nb: ${9X}\n", "a: 1\nb: ${}\n"] {
            match expand(text, "f.yaml", &env) {
                Err(Error::Config {
                    line: Some(2),
                    message,
                    ..
                }) => {
                    assert!(message.contains("$${"), "{message}")
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }
}
