//! Which format a client config is written in.

use std::path::Path;

use super::Format;

/// The format of `path`, whose contents are `text`: `.json` or `.jsonc`
/// (any case) is JSON, `.toml` TOML; with another name (`mcp.conf`, no
/// extension) the text tells: a JSON config opens with `{` (after
/// whitespace, a byte-order mark and JSONC comments), which no TOML
/// document can.
pub fn format_of(path: &Path, text: &str) -> Format {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext.eq_ignore_ascii_case("json") || ext.eq_ignore_ascii_case("jsonc") {
        return Format::Json;
    }
    if ext.eq_ignore_ascii_case("toml") {
        return Format::Codex;
    }
    let mut rest = text.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    if rest.starts_with('{') {
        Format::Json
    } else {
        Format::Codex
    }
}
