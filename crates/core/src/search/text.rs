//! Words as search compares them: folded (lower case, no diacritics), split on anything that
//! is not a letter or a digit, and compared with a bounded edit distance.

use unicode_normalization::UnicodeNormalization;

/// Lower case without diacritics: "Hélène" and "helene" match.
pub fn fold(s: &str) -> String {
    s.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            // Letters that carry no combining mark once decomposed.
            'ß' => 's',
            'ø' => 'o',
            'ł' => 'l',
            'đ' => 'd',
            'æ' => 'a',
            'œ' => 'o',
            other => other,
        })
        .collect()
}

/// The folded words of a text, in order.
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Typos forgiven in a word of this many letters: none under 4 letters (too many short words
/// are one edit apart), one up to 7, two beyond.
pub fn allowed_edits(letters: usize) -> usize {
    match letters {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// Edit distance (insertions, deletions, substitutions and swaps of two neighbours, each one
/// edit) between `a` and `b`, or `None` when it exceeds `max`. With `prefix`, the distance from
/// `a` to the closest prefix of `b` ("kardiol" is one edit from a prefix of "kardiologe").
/// Rows stop as soon as every cell exceeds `max`, so most comparisons end after a few letters.
pub fn distance(a: &[char], b: &[char], max: usize, prefix: bool) -> Option<usize> {
    if !prefix && a.len().abs_diff(b.len()) > max {
        return None;
    }
    if prefix && b.len() + max < a.len() {
        return None;
    }
    let width = b.len() + 1;
    // Three rows: i-2 (for swaps), i-1, i; on the stack for the words people type.
    let mut stack = [0usize; 3 * 33];
    let mut heap = Vec::new();
    let rows: &mut [usize] = if width <= 33 {
        &mut stack[..3 * width]
    } else {
        heap.resize(3 * width, 0);
        &mut heap
    };
    for (j, cell) in rows[width..2 * width].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        let (before, rest) = rows.split_at_mut(width);
        let (prev, cur) = rest.split_at_mut(width);
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..width {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j - 1] + cost).min(prev[j] + 1).min(cur[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(before[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        rows.rotate_left(width);
    }
    // After the last rotation the final row sits in the middle third.
    let last = &rows[width..2 * width];
    let d = if prefix {
        last.iter().copied().min().unwrap_or(usize::MAX)
    } else {
        last[width - 1]
    };
    (d <= max).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(a: &str, b: &str, max: usize) -> Option<usize> {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        distance(&a, &b, max, false)
    }

    fn p(a: &str, b: &str, max: usize) -> Option<usize> {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        distance(&a, &b, max, true)
    }

    #[test]
    fn folding_and_words() {
        assert_eq!(fold("Dr Hélène MARTIN-Žižek"), "dr helene martin-zizek");
        assert_eq!(fold("Straße Œuvre"), "strase ouvre");
        assert_eq!(
            words("Dr Hélène MARTIN-Žižek / Paris 11e"),
            vec!["dr", "helene", "martin", "zizek", "paris", "11e"]
        );
    }

    #[test]
    fn bounded_edit_distance() {
        assert_eq!(d("dentiste", "dentiste", 2), Some(0));
        assert_eq!(d("dentsite", "dentiste", 1), Some(1), "a swap is one edit");
        assert_eq!(d("dentist", "dentiste", 1), Some(1));
        assert_eq!(d("dantista", "dentiste", 2), Some(2));
        assert_eq!(d("dantista", "dentiste", 1), None);
        assert_eq!(d("abc", "xyz", 2), None);
        assert_eq!(d("", "ab", 2), Some(2));
        assert_eq!(p("kardiol", "kardiologe", 0), Some(0));
        assert_eq!(p("cardiol", "kardiologe", 1), Some(1));
        assert_eq!(p("zahnartz", "zahnarzt", 1), Some(1));
        assert_eq!(p("xyz", "kardiologe", 1), None);
        // Against brute force over short strings.
        let alphabet = ['a', 'b', 'c'];
        let all: Vec<String> = (0..=4)
            .flat_map(|n| {
                (0..alphabet.len().pow(n as u32)).map(move |mut k| {
                    (0..n)
                        .map(|_| {
                            let c = alphabet[k % 3];
                            k /= 3;
                            c
                        })
                        .collect::<String>()
                })
            })
            .collect();
        for a in all.iter().step_by(3) {
            for b in all.iter().step_by(2) {
                let full = d(a, b, 10).unwrap();
                for max in 0..3 {
                    assert_eq!(d(a, b, max), (full <= max).then_some(full), "{a} {b}");
                }
            }
        }
    }
}
