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
    Keyed::new(p).starts_with(Keyed::new(q))
}

/// `p == q`, component-wise.
pub fn same_path(p: &Path, q: &Path) -> bool {
    Keyed::new(p).same(Keyed::new(q))
}

/// A path with its [`plain`] check done once: Landlock expansion compares
/// every node with every other and with each entry of a split directory,
/// and re-scanning both paths on each comparison was most of its cost.
#[derive(Debug, Clone, Copy)]
pub struct Keyed<'a> {
    path: &'a Path,
    plain: bool,
}

impl<'a> Keyed<'a> {
    /// Scan `path` once.
    pub fn new(path: &'a Path) -> Self {
        Keyed {
            path,
            plain: plain(path.as_os_str().as_bytes()),
        }
    }

    /// The path itself.
    pub fn path(self) -> &'a Path {
        self.path
    }

    fn bytes(self) -> &'a [u8] {
        self.path.as_os_str().as_bytes()
    }

    /// `self.starts_with(q)`, component-wise, as [`starts_with`].
    pub fn starts_with(self, q: Keyed<'_>) -> bool {
        if !(self.plain && q.plain) {
            return self.path.starts_with(q.path);
        }
        let (a, b) = (self.bytes(), q.bytes());
        a.starts_with(b) && (b.len() == 1 || a.len() == b.len() || a[b.len()] == b'/')
    }

    /// `self == q`, component-wise, as [`same_path`].
    pub fn same(self, q: Keyed<'_>) -> bool {
        if self.plain && q.plain {
            self.bytes() == q.bytes()
        } else {
            self.path == q.path
        }
    }

    /// `self == q`, as [`same`](Self::same), reading all of `q` only when
    /// that can change the answer. Any spelling of a plain path's
    /// components other than the plain one is the plain one with `/` and
    /// `.` bytes added (a doubled `/`, a `.` component, a trailing `/`):
    /// so when `self` is plain, a `q` no longer than it is equal only byte
    /// for byte, and a longer one only if where it first departs from
    /// `self` it has a `/` or a `.`. Planning compares each new entry with
    /// every entry so far; scanning each of theirs was most of that cost.
    pub fn same_as(self, q: &Path) -> bool {
        let (a, b) = (self.bytes(), q.as_os_str().as_bytes());
        if self.plain {
            if b.len() <= a.len() {
                return a == b;
            }
            let departs = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            if !matches!(b[departs], b'/' | b'.') {
                return false;
            }
        }
        self.same(Keyed::new(q))
    }

    /// `self.starts_with(q)`, as [`starts_with`](Self::starts_with),
    /// reading all of `q` only when that can change the answer (as in
    /// [`same_as`](Self::same_as)): when `self` is plain, a `q` that is a
    /// byte prefix of it ending where a component does is a plain prefix;
    /// any other spelling of a prefix departs from `self` at a `/` or `.`
    /// it adds, or ends in one. Planning asks this of every entry for each
    /// path it decides.
    pub fn starts_with_path(self, q: &Path) -> bool {
        let (a, b) = (self.bytes(), q.as_os_str().as_bytes());
        if self.plain {
            let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            if common == b.len() {
                if b.len() <= 1 || a.len() == b.len() || a[b.len()] == b'/' {
                    return true;
                }
                if !matches!(b.last(), Some(b'/' | b'.')) {
                    return false;
                }
            } else if !matches!(b[common], b'/' | b'.') {
                return false;
            }
        }
        self.starts_with(Keyed::new(q))
    }

    /// `self` lies strictly below `q`, as [`strictly_under`].
    pub fn strictly_under(self, q: Keyed<'_>) -> bool {
        !self.same(q) && self.starts_with(q)
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
                let (kp, kq) = (Keyed::new(pp), Keyed::new(qp));
                assert_eq!(kp.starts_with(kq), pp.starts_with(qp), "{p:?} keyed {q:?}");
                assert_eq!(kp.same(kq), pp == qp, "{p:?} keyed == {q:?}");
                assert_eq!(kp.same_as(qp), pp == qp, "{p:?} same_as {q:?}");
                assert_eq!(
                    kp.starts_with_path(qp),
                    pp.starts_with(qp),
                    "{p:?} starts_with_path {q:?}"
                );
                assert_eq!(
                    kp.strictly_under(kq),
                    pp != qp && pp.starts_with(qp),
                    "{p:?} keyed under {q:?}"
                );
            }
            let normal = Path::new(p)
                .components()
                .filter(|c| matches!(c, std::path::Component::Normal(_)))
                .count();
            assert_eq!(depth(Path::new(p)), normal, "depth of {p:?}");
        }
    }

    /// [`Keyed::same_as`] and [`Keyed::starts_with_path`] against `Path`'s
    /// own `==` and `starts_with` on every spelling of up to four pieces
    /// from empty, `.`, `..` and names, with or without a root: the byte
    /// shortcuts must never decide a pair wrongly.
    #[test]
    fn shortcuts_agree_with_path_on_every_short_spelling() {
        let pieces = ["", ".", "..", "a", "ab", ".a"];
        let mut spellings = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = spellings
                .iter()
                .flat_map(|s| pieces.iter().map(move |p| format!("{s}/{p}")))
                .collect();
            spellings.extend(longer);
        }
        spellings.extend(["a", "a/b", ".", "./a", "a/", "/"].map(String::from));
        spellings.sort();
        spellings.dedup();
        for p in &spellings {
            let key = Keyed::new(Path::new(p));
            for q in &spellings {
                let (pp, qp) = (Path::new(p), Path::new(q));
                assert_eq!(key.same_as(qp), pp == qp, "{p:?} same_as {q:?}");
                assert_eq!(
                    key.starts_with_path(qp),
                    pp.starts_with(qp),
                    "{p:?} starts_with_path {q:?}"
                );
            }
        }
    }
}
