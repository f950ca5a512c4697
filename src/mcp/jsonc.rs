//! JSON with comments, as VS Code writes `mcp.json` (and Cursor accepts):
//! `//` and `/* */` comments and trailing commas. They are blanked to
//! spaces, newlines kept, so a strict JSON parser reads the rest and its
//! line and column still point into the user's file.

/// `text` with comments and trailing commas replaced by spaces.
pub fn strip(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for b in &mut out[from..to] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    // The last comma outside a string that followed a value, while only
    // blanks and comments follow it: trailing if `]` or `}` comes next.
    let mut comma: Option<usize> = None;
    let mut after_value = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                (comma, after_value) = (None, true);
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").map_or(bytes.len(), |n| i + n + 4);
                blank(&mut out, i, end);
                i = end;
            }
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b => {
                match b {
                    b',' => comma = after_value.then_some(i),
                    b']' | b'}' => {
                        if let Some(c) = comma {
                            out[c] = b' ';
                        }
                        comma = None;
                    }
                    _ => comma = None,
                }
                after_value = !matches!(b, b',' | b'[' | b'{' | b':');
                i += 1;
            }
        }
    }
    // Only ASCII bytes outside strings were replaced by ASCII spaces.
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn comments_and_trailing_commas_go_strings_stay() {
        let text =
            "{\n  // a comment\n  \"a\": \"http://x/*y*/\", /* block\n */ \"b\": [1, 2,],\n}";
        let v: serde_json::Value = serde_json::from_str(&strip(text)).unwrap();
        assert_eq!(v["a"], "http://x/*y*/");
        assert_eq!(v["b"], serde_json::json!([1, 2]));
        assert_eq!(strip(text).lines().count(), text.lines().count());
        let s = "{\"k\": \"a\\\"//b\",}";
        let v: serde_json::Value = serde_json::from_str(&strip(s)).unwrap();
        assert_eq!(v["k"], "a\"//b");
        // A syntax error still reports the user's line.
        let bad = "{\n// c\n\"a\": ,\n}";
        let err = serde_json::from_str::<serde_json::Value>(&strip(bad)).unwrap_err();
        assert_eq!(err.line(), 3);
    }
}
