//! A query answer split as its bytes arrive: the JSON, with the text of
//! `data.rowsetBase64` left out, and that text base64-decoded on the fly.
//!
//! A result small enough for Snowflake to send in one piece (and every result
//! of a stand-in that never chunks) comes inline as a base64 Arrow stream. Read
//! as a `String` and parsed, it would be in memory four times over (the body,
//! its text, the parsed field, the decoded bytes); split here, only the decoded
//! Arrow stream is held, once, plus the rest of the JSON (a few KB). The rows
//! themselves are still all held — that is what a one-piece answer is; chunked
//! answers keep one chunk (see `rows`).
//!
//! The scanner is a small JSON tokenizer: it knows whether it is inside a
//! string and how deep in objects and arrays it is, so a string that merely
//! contains `rowsetBase64` (an error message, say) is never taken for the key.

use base64::Engine;

/// The key whose value is decoded (serde's field and alias, any case).
const KEY: &[u8] = b"rowsetBase64";
/// `{"data": {"rowsetBase64": …}}`: the key is in the second object down.
const KEY_DEPTH: u32 = 2;
/// Base64 characters decoded at a time (a multiple of 4).
const BATCH: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between tokens.
    Between,
    /// In a string (`escaped`: the byte before was a backslash).
    Text { escaped: bool },
    /// After `"rowsetBase64":`, before its value.
    BeforeRowset,
    /// In the rowset's string.
    Rowset { escaped: bool },
}

/// An answer being split; [`Split::push`] its bytes, then [`Split::finish`].
#[derive(Debug)]
pub(super) struct Split {
    json: Vec<u8>,
    arrow: Vec<u8>,
    /// Base64 characters not decoded yet (about [`BATCH`] at most).
    pending: Vec<u8>,
    state: State,
    depth: u32,
    /// The string being read, while it could still be the key.
    key: Vec<u8>,
    /// The last string closed was the key at the right depth (so a `:` next
    /// makes its value the rowset).
    after_key: bool,
    /// Bytes still to come, when the answer said (to size the Arrow buffer).
    remaining: Option<u64>,
}

impl Split {
    /// `length`: the body's `Content-Length`, when known.
    pub(super) fn new(length: Option<u64>) -> Split {
        Split {
            json: Vec::new(),
            arrow: Vec::new(),
            pending: Vec::new(),
            state: State::Between,
            depth: 0,
            key: Vec::with_capacity(KEY.len()),
            after_key: false,
            remaining: length,
        }
    }

    /// The next bytes of the body.
    pub(super) fn push(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut i = 0;
        while i < bytes.len() {
            let byte = bytes[i];
            if self.state == (State::Rowset { escaped: false }) {
                // The rowset is nearly all of a large answer: its plain base64
                // runs are taken whole, not byte by byte.
                let run = bytes[i..]
                    .iter()
                    .position(|b| matches!(b, b'"' | b'\\'))
                    .unwrap_or(bytes.len() - i);
                if run > 0 {
                    self.pending.extend_from_slice(&bytes[i..i + run]);
                    if self.pending.len() >= BATCH {
                        self.decode_pending(false)?;
                    }
                    i += run;
                    continue;
                }
            }
            if let State::Rowset { escaped } = self.state {
                self.rowset_byte(byte, escaped)?;
            } else {
                if self.state == State::BeforeRowset && byte == b'"' {
                    // Three quarters of what is left is about the decoded size:
                    // reserved once instead of doubling up to it.
                    let left = self.remaining.map_or(0, |r| r.saturating_sub(i as u64));
                    self.arrow.reserve(crate::http::reservation(left / 4 * 3));
                }
                self.json_byte(byte);
            }
            i += 1;
        }
        if let Some(remaining) = &mut self.remaining {
            *remaining = remaining.saturating_sub(bytes.len() as u64);
        }
        Ok(())
    }

    /// The JSON (with `"rowsetBase64":""`) and the decoded Arrow bytes.
    pub(super) fn finish(mut self) -> Result<(Vec<u8>, Vec<u8>), String> {
        if matches!(self.state, State::Rowset { .. }) {
            return Err("the answer ends inside `rowsetBase64`".into());
        }
        self.decode_pending(true)?;
        Ok((self.json, self.arrow))
    }

    fn json_byte(&mut self, byte: u8) {
        self.json.push(byte);
        match self.state {
            State::Text { escaped: false } if byte == b'"' => {
                self.after_key = self.depth == KEY_DEPTH && self.key.eq_ignore_ascii_case(KEY);
                self.key.clear();
                self.state = State::Between;
            }
            State::Text { escaped } => {
                // Kept raw, escapes included: the key has none, so a string
                // with one never matches it.
                if self.key.len() <= KEY.len() {
                    self.key.push(byte);
                }
                self.state = State::Text {
                    escaped: !escaped && byte == b'\\',
                };
            }
            State::BeforeRowset if byte == b'"' => self.state = State::Rowset { escaped: false },
            State::BeforeRowset if byte.is_ascii_whitespace() => {}
            State::BeforeRowset | State::Between => {
                // `null` (or anything but a string) after the key is no rowset.
                self.state = State::Between;
                match byte {
                    b'"' => {
                        self.key.clear();
                        self.state = State::Text { escaped: false };
                    }
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                    b':' if self.after_key => self.state = State::BeforeRowset,
                    _ => {}
                }
                if !byte.is_ascii_whitespace() {
                    self.after_key = false;
                }
            }
            State::Rowset { .. } => unreachable!("rowset bytes are not JSON"),
        }
    }

    /// One byte of the rowset's text: base64, or `\/` (JSON may escape `/`),
    /// or the closing quote.
    fn rowset_byte(&mut self, byte: u8, escaped: bool) -> Result<(), String> {
        match (escaped, byte) {
            (true, b'/') => self.pending.push(b'/'),
            (true, _) => return Err(not_base64()),
            (false, b'\\') => {
                self.state = State::Rowset { escaped: true };
                return Ok(());
            }
            (false, b'"') => {
                self.decode_pending(true)?;
                self.json.push(b'"');
                self.state = State::Between;
                return Ok(());
            }
            (false, _) => self.pending.push(byte),
        }
        self.state = State::Rowset { escaped: false };
        if self.pending.len() >= BATCH {
            self.decode_pending(false)?;
        }
        Ok(())
    }

    /// Decodes the pending characters: all of them at the end, else whole
    /// quantums of four (padding can only be in the last one).
    fn decode_pending(&mut self, all: bool) -> Result<(), String> {
        let take = if all {
            self.pending.len()
        } else {
            self.pending.len() / 4 * 4
        };
        base64::engine::general_purpose::STANDARD
            .decode_vec(&self.pending[..take], &mut self.arrow)
            .map_err(|_| not_base64())?;
        self.pending.drain(..take);
        Ok(())
    }
}

fn not_base64() -> String {
    "`rowsetBase64` is not base64".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `body` split into pieces of `piece` bytes.
    fn split(body: &[u8], piece: usize) -> Result<(String, Vec<u8>), String> {
        let mut split = Split::new(Some(body.len() as u64));
        for part in body.chunks(piece) {
            split.push(part)?;
        }
        let (json, arrow) = split.finish()?;
        Ok((String::from_utf8(json).unwrap(), arrow))
    }

    #[test]
    fn the_rowset_is_decoded_and_left_out_of_the_json() {
        let rows: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(&rows);
        let body = format!(
            r#"{{"data": {{"rowtype": [{{"name": "rowsetBase64"}}], "rowsetBase64" : "{encoded}", "total": 2}}, "message": "rowsetBase64", "success": true}}"#
        );
        let expected = r#"{"data": {"rowtype": [{"name": "rowsetBase64"}], "rowsetBase64" : "", "total": 2}, "message": "rowsetBase64", "success": true}"#;
        // However the body arrives: whole, in odd pieces, a byte at a time.
        for piece in [body.len(), 4093, 7, 1] {
            let (json, arrow) = split(body.as_bytes(), piece).unwrap();
            assert_eq!(json, expected, "pieces of {piece}");
            assert_eq!(arrow, rows, "pieces of {piece}");
        }
    }

    #[test]
    fn only_the_key_in_data_is_the_rowset() {
        // The same name as a value, in an error message, deeper down, or with a
        // null value: all copied as they are.
        for body in [
            r#"{"data": {"queryId": "rowsetBase64", "x": {"rowsetBase64": "QQ=="}}}"#,
            r#"{"message": "no \"rowsetBase64\": \"QQ==\" here", "success": false}"#,
            r#"{"rowsetBase64": "QQ==", "data": {"rowsetBase64": null}}"#,
            r#"<html>rowsetBase64: "QQ=="</html>"#,
        ] {
            let (json, arrow) = split(body.as_bytes(), 3).unwrap();
            assert_eq!(json, body);
            assert!(arrow.is_empty(), "{body}");
        }
        let (json, arrow) =
            split(br#"{"data":{"ROWSETBASE64":"QUJD\/w==","total":1}}"#, 5).unwrap();
        assert_eq!(json, r#"{"data":{"ROWSETBASE64":"","total":1}}"#);
        assert_eq!(arrow, b"ABC\xff");
    }

    #[test]
    fn bad_base64_or_a_cut_answer_is_an_error() {
        for body in [
            r#"{"data": {"rowsetBase64": "QUJ*"}}"#,
            r#"{"data": {"rowsetBase64": "QUJD\n"}}"#,
            r#"{"data": {"rowsetBase64": "QUJD"#,
            r#"{"data": {"rowsetBase64": "QUJDR"}}"#,
        ] {
            assert!(split(body.as_bytes(), 2).is_err(), "{body}");
        }
    }
}
