//! The diff `mcp install` and `uninstall` print before they write.

/// A unified-style line diff (`-`/`+` lines with one line of context).
pub fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let (n, m) = (a.len(), b.len());
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
    let mut ops: Vec<(char, &str)> = Vec::new();
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
    let near = |k: usize| {
        ops[k.saturating_sub(1)..(k + 2).min(ops.len())]
            .iter()
            .any(|(c, _)| *c != ' ')
    };
    // Each run of shown lines is a hunk headed `@@ -OLD,N +NEW,M @@`, as
    // in `diff -u`: the unchanged lines between two hunks are left out,
    // and without the header the lines around the gap read as adjacent.
    let mut out = String::new();
    let (mut old_at, mut new_at) = (0, 0);
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
            out.push_str(&format!("{c} {line}\n"));
        }
        old_at += olds;
        new_at += news;
        k = end;
    }
    out
}
