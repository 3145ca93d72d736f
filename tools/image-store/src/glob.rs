//! Go's `path.Match`, which Docker's `--filter reference=` uses: `*` and `?`
//! never cross a `/`, `[…]` is a class (`[^…]` negated, ranges allowed).

pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_at(&p, &n)
}

fn match_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => {
            // Try every split that keeps '*' inside one path component.
            let rest = &p[1..];
            let mut i = 0;
            loop {
                if match_at(rest, &n[i..]) {
                    return true;
                }
                if i == n.len() || n[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        Some('?') => !n.is_empty() && n[0] != '/' && match_at(&p[1..], &n[1..]),
        Some('[') => {
            let Some(c) = n.first() else { return false };
            match class(&p[1..], *c) {
                Some((ok, used)) => ok && *c != '/' && match_at(&p[1 + used..], &n[1..]),
                None => false,
            }
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && match_at(&p[2..], &n[1..]),
        Some(c) => n.first() == Some(c) && match_at(&p[1..], &n[1..]),
    }
}

/// Matches `c` against a class body; returns (matched, chars used incl. `]`).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = p.first() == Some(&'^');
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        i += 1;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|x| *x != ']') {
            let hi = p[i + 1];
            i += 2;
            hit |= lo <= c && c <= hi;
        } else {
            hit |= lo == c;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_match_semantics() {
        for (p, n, want) in [
            ("busy*", "busybox", true),
            ("*", "a/b", false),
            ("*/*", "a/b", true),
            ("bus?box", "busybox", true),
            ("b[a-u]sybox", "busybox", true),
            ("b[^u]sybox", "busybox", false),
            ("busybox:1*", "busybox:1.36", true),
            ("localhost:5000/*", "localhost:5000/app", true),
            ("alpine", "alpine:latest", false),
        ] {
            assert_eq!(super::matches(p, n), want, "{p} vs {n}");
        }
    }
}
