//! The diff `mcp install` and `uninstall` print before they write.

/// Cells of the longest-common-subsequence table past which the changed
/// middle is shown as one replacement: 4 Mi cells of u32 is 16 MiB. A
/// client config may be 16 MiB (tens of thousands of lines once it holds
/// a client's project history), and a table over the whole of it needed
/// gigabytes and aborted the install before anything was written.
const MAX_TABLE_CELLS: usize = 1 << 22;

/// A unified diff (`-`/`+`/` ` lines with one line of context, the hunk
/// headers of `diff -u`) that `patch` applies: each line keeps its own
/// ending (a CRLF config's `\r`), and a last line without one is marked
/// `\ No newline at end of file`.
pub fn diff(old: &str, new: &str) -> String {
    diff_within(old, new, MAX_TABLE_CELLS)
}

fn diff_within(old: &str, new: &str, max_cells: usize) -> String {
    // Lines with their endings: `lines()` dropped a CRLF file's `\r`,
    // and a hunk without it did not match the file it came from.
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    // Install's edits are few and local: the lines before the first and
    // after the last change are the same on both sides and need no table.
    let pre = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (mid_a, mid_b) = (&a[pre..a.len() - suf], &b[pre..b.len() - suf]);
    // One unchanged line either side is all the context a hunk shows.
    let lead = pre.min(1);
    let mut ops: Vec<(char, &str)> = a[pre - lead..pre].iter().map(|l| (' ', *l)).collect();
    middle(mid_a, mid_b, max_cells, &mut ops);
    ops.extend(a[a.len() - suf..][..suf.min(1)].iter().map(|l| (' ', *l)));
    hunks(&ops, pre - lead)
}

/// The edit script between the changed middles: a longest common
/// subsequence while its table stays small, else every old line removed
/// and every new one added (still exact, only less tight).
fn middle<'t>(a: &[&'t str], b: &[&'t str], max_cells: usize, ops: &mut Vec<(char, &'t str)>) {
    let (n, m) = (a.len(), b.len());
    let fits = (n + 1)
        .checked_mul(m + 1)
        .is_some_and(|cells| cells <= max_cells);
    if !fits {
        ops.extend(a.iter().map(|l| ('-', *l)));
        ops.extend(b.iter().map(|l| ('+', *l)));
        return;
    }
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removals before additions, as `diff -u` prints them.
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
}

/// `ops` printed as hunks; its first line is line `skipped + 1` of both
/// texts (the lines before it are the same on both sides).
fn hunks(ops: &[(char, &str)], skipped: usize) -> String {
    let near = |k: usize| {
        ops[k.saturating_sub(1)..(k + 2).min(ops.len())]
            .iter()
            .any(|(c, _)| *c != ' ')
    };
    // Each run of shown lines is a hunk headed `@@ -OLD,N +NEW,M @@`, as
    // in `diff -u`: the unchanged lines between two hunks are left out,
    // and without the header the lines around the gap read as adjacent.
    let mut out = String::new();
    let (mut old_at, mut new_at) = (skipped, skipped);
    let mut k = 0;
    while k < ops.len() {
        if ops[k].0 == ' ' && !near(k) {
            old_at += 1;
            new_at += 1;
            k += 1;
            continue;
        }
        let end = (k..ops.len())
            .find(|&e| ops[e].0 == ' ' && !near(e))
            .unwrap_or(ops.len());
        let hunk = &ops[k..end];
        let olds = hunk.iter().filter(|(c, _)| *c != '+').count();
        let news = hunk.iter().filter(|(c, _)| *c != '-').count();
        // An empty side names the line before it, as `diff -u` does.
        let first = |at: usize, n: usize| if n == 0 { at } else { at + 1 };
        out.push_str(&format!(
            "@@ -{},{olds} +{},{news} @@\n",
            first(old_at, olds),
            first(new_at, news)
        ));
        for (c, line) in hunk {
            // The marker and the line as it is: `- text` (a space after
            // the marker) made every hunk one that `patch` rejected.
            out.push(*c);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
        old_at += olds;
        new_at += news;
        k = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("  \"line{i}\": {i},")).collect()
    }

    /// A 50,000-line config with a few nearby edits: before, the diff built
    /// a 50,001 x 50,001 table of u32 (10 GB) and aborted the install.
    #[test]
    fn a_large_config_with_local_edits_diffs_without_a_table_over_it() {
        let old = numbered(50_000);
        let mut new = old.clone();
        new[25_000] = "  \"line25001\": \"changed\",".into();
        new.insert(25_002, "  \"added\": true,".into());
        let (old, new) = (old.join("\n") + "\n", new.join("\n") + "\n");
        assert_eq!(
            diff(&old, &new),
            "@@ -25000,4 +25000,5 @@\n   \"line25000\": 25000,\n-  \"line25001\": 25001,\n\
             +  \"line25001\": \"changed\",\n   \"line25002\": 25002,\n+  \"added\": true,\n\
             \x20  \"line25003\": 25003,\n"
        );
        // Edits at both ends leave the whole file as the middle: it is
        // shown as one replacement, not diffed through a 10 GB table.
        let mut far = numbered(50_000);
        far[0] = "first".into();
        far[49_999] = "last".into();
        let out = diff(&old, &(far.join("\n") + "\n"));
        assert!(out.starts_with("@@ -1,50000 +1,50000 @@\n-  \"line1\": 1,\n"));
        assert_eq!(out.lines().count(), 1 + 2 * 50_000);
        assert!(out.ends_with("+last\n"), "{}", &out[out.len() - 40..]);
    }

    /// Past the bound the middle is one exact replacement, with the
    /// common lines around it as context and the hunk numbered in place.
    #[test]
    fn a_middle_past_the_bound_is_one_replacement() {
        let (old, new) = ("a\nb\nc\nd\ne\n", "a\nb\nX\nc\nY\ne\n");
        assert_eq!(
            diff_within(old, new, 4),
            "@@ -2,4 +2,5 @@\n b\n-c\n-d\n+X\n+c\n+Y\n e\n"
        );
        // Within the bound the same edit keeps `c` as common.
        assert_eq!(
            diff_within(old, new, usize::MAX),
            "@@ -2,4 +2,5 @@\n b\n+X\n c\n-d\n+Y\n e\n"
        );
    }
}
