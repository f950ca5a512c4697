//! Comparing absolute paths component-wise, fast.
//!
//! Planning and Landlock expansion compare every path of a view with every
//! other; `Path`'s component parser dominated their cost. Paths written in
//! one canonical way ([`plain`]) compare by bytes with the same answer; any
//! other spelling falls back to `Path`'s own comparison.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Whether `p` is written in one canonical way: absolute, no empty or `.`
/// component, no trailing slash (except `/` itself). For two such paths,
/// component-wise comparison is byte comparison.
pub fn plain(p: &[u8]) -> bool {
    // One pass: every `/` but a lone root is followed by a component that is
    // neither empty nor `.`.
    match p {
        [b'/'] => true,
        [b'/', ..] => p.iter().enumerate().all(|(i, &c)| {
            c != b'/'
                || !matches!(
                    (p.get(i + 1), p.get(i + 2)),
                    (None | Some(b'/'), _) | (Some(b'.'), None | Some(b'/'))
                )
        }),
        _ => false,
    }
}

/// `p.starts_with(q)`, component-wise (`/home/a` does not contain `/home/ab`).
pub fn starts_with(p: &Path, q: &Path) -> bool {
    let (a, b) = (p.as_os_str().as_bytes(), q.as_os_str().as_bytes());
    if !(plain(a) && plain(b)) {
        return p.starts_with(q);
    }
    a.starts_with(b) && (b.len() == 1 || a.len() == b.len() || a[b.len()] == b'/')
}

/// `p == q`, component-wise.
pub fn same_path(p: &Path, q: &Path) -> bool {
    let (a, b) = (p.as_os_str().as_bytes(), q.as_os_str().as_bytes());
    if plain(a) && plain(b) {
        a == b
    } else {
        p == q
    }
}

/// `p` lies strictly below `q`.
pub fn strictly_under(p: &Path, q: &Path) -> bool {
    !same_path(p, q) && starts_with(p, q)
}

/// Number of normal components: `/` is 0, `/a/b` is 2 (`.` and `..` are
/// not normal components).
pub fn depth(p: &Path) -> usize {
    let a = p.as_os_str().as_bytes();
    if plain(a) && !a.windows(4).any(|w| w == b"/../") && !a.ends_with(b"/..") {
        return a.iter().filter(|&&c| c == b'/').count() - usize::from(a.len() == 1);
    }
    p.components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_comparisons_agree_with_path_components() {
        let paths = [
            "/",
            "/a",
            "/a/",
            "/a/b",
            "/ab",
            "/a//b",
            "/a/./b",
            "/a/.",
            "/a/..",
            "/a/../b",
            "a",
            "a/b",
            "",
            "/etc",
            "/etc/ssl",
            "/etcx",
            "/etc/ssl/certs",
            "//",
            "/./a",
            ".",
        ];
        for p in paths {
            for q in paths {
                let (pp, qp) = (Path::new(p), Path::new(q));
                assert_eq!(
                    starts_with(pp, qp),
                    pp.starts_with(qp),
                    "{p:?} starts_with {q:?}"
                );
                assert_eq!(same_path(pp, qp), pp == qp, "{p:?} == {q:?}");
                assert_eq!(
                    strictly_under(pp, qp),
                    pp != qp && pp.starts_with(qp),
                    "{p:?} under {q:?}"
                );
            }
            let normal = Path::new(p)
                .components()
                .filter(|c| matches!(c, std::path::Component::Normal(_)))
                .count();
            assert_eq!(depth(Path::new(p)), normal, "depth of {p:?}");
        }
    }
}
