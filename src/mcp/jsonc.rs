//! JSON with comments, as VS Code writes `mcp.json` (and Cursor accepts):
//! `//` and `/* */` comments and trailing commas. They are blanked to
//! spaces, newlines kept, so a strict JSON parser reads the rest and its
//! line and column still point into the user's file.
//!
//! [`tree`] maps the same blanked text to byte spans, so `mcp install`
//! can edit a few values in place and leave every comment and blank of
//! the user's file where it was.

use std::ops::Range;

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
    // A byte order mark (Windows editors write one) is not JSON.
    if text.starts_with('\u{feff}') {
        out[..3].copy_from_slice(b"   ");
        i = 3;
    }
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

/// A JSON value and where it is in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its bytes, from the first to the last of the value itself.
    pub span: Range<usize>,
    /// What it is.
    pub kind: Kind,
}

/// The shape of a [`Node`]: only what an in-place edit needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `{…}`: members in file order, with where each key starts.
    Object(Vec<(String, usize, Node)>),
    /// `[…]`.
    Array(Vec<Node>),
    /// A string, decoded.
    Str(String),
    /// A number, `true`, `false` or `null`.
    Scalar,
}

impl Node {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.member(key).map(|(_, n)| n)
    }

    /// The member `key` of an object with where its key starts.
    pub fn member(&self, key: &str) -> Option<(usize, &Node)> {
        match &self.kind {
            Kind::Object(m) => m
                .iter()
                .find(|(k, _, _)| k == key)
                .map(|(_, at, n)| (*at, n)),
            _ => None,
        }
    }

    /// The decoded text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The value in `stripped` (the output of [`strip`], which keeps every
/// offset), or None when it is not JSON: parse with serde_json first for
/// an error with line and column.
pub fn tree(stripped: &str) -> Option<Node> {
    let mut p = Parser {
        s: stripped.as_bytes(),
        text: stripped,
        i: 0,
    };
    let node = p.value(0)?;
    p.ws();
    (p.i == p.s.len()).then_some(node)
}

/// Deeper than any config; keeps a hostile file from overflowing the stack.
const MAX_DEPTH: usize = 128;

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|b| b.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        let hit = self.s.get(self.i) == Some(&b);
        self.i += usize::from(hit);
        hit
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        let start = self.i;
        let kind = match *self.s.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                while !self.eat(b'}') {
                    if !members.is_empty() && !self.eat(b',') {
                        return None;
                    }
                    self.ws();
                    let at = self.i;
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return None;
                    }
                    members.push((key, at, self.value(depth + 1)?));
                }
                Kind::Object(members)
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                while !self.eat(b']') {
                    if !items.is_empty() && !self.eat(b',') {
                        return None;
                    }
                    items.push(self.value(depth + 1)?);
                }
                Kind::Array(items)
            }
            b'"' => Kind::Str(self.string()?),
            _ => {
                let end = self.s[self.i..]
                    .iter()
                    .position(|b| b.is_ascii_whitespace() || b",]}:".contains(b))
                    .map_or(self.s.len(), |n| self.i + n);
                if end == self.i {
                    return None;
                }
                self.i = end;
                Kind::Scalar
            }
        };
        Some(Node {
            span: start..self.i,
            kind,
        })
    }

    /// A string literal at the cursor, decoded.
    fn string(&mut self) -> Option<String> {
        let start = self.i;
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        while *self.s.get(self.i)? != b'"' {
            self.i += if self.s[self.i] == b'\\' { 2 } else { 1 };
        }
        self.i += 1;
        serde_json::from_str(self.text.get(start..self.i)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::{strip, tree, Kind};

    #[test]
    fn tree_spans_point_into_the_commented_text() {
        let text = "\u{feff}{ // c\r\n \"a\": [1, \"x\\\"y\" /* b */,],\r\n \"b\": {},\r\n}";
        let root = tree(&strip(text)).unwrap();
        let a = root.get("a").unwrap();
        assert_eq!(&text[a.span.clone()], "[1, \"x\\\"y\" /* b */,]");
        let Kind::Array(items) = &a.kind else {
            panic!()
        };
        assert_eq!(&text[items[0].span.clone()], "1");
        assert_eq!(items[1].as_str(), Some("x\"y"));
        let (at, b) = root.member("b").unwrap();
        assert_eq!(&text[at..b.span.end], "\"b\": {}");
        assert_eq!(tree("{\"a\": }"), None);
        assert_eq!(tree(&"[".repeat(1000)), None);
    }

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
