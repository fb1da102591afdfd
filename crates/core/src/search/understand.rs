//! Reads a free-text query the way a person means it: words that name a specialty (in any of
//! the four languages, with typos) or a place (commune, district, postcode) are taken as such,
//! the rest are words of a practitioner's name.

use super::synonyms::{SPECIALTY_WORDS, STOPWORDS};
use super::text::{allowed_edits, distance, words};
use crate::gazetteer::{self, PlaceHit};
use crate::i18n::Lang;
use careslot_domain::Specialty;
use std::sync::OnceLock;

/// A specialty phrase, folded and split into words.
struct Phrase {
    words: Vec<String>,
    chars: Vec<Vec<char>>,
    specialty: Specialty,
}

/// Every phrase, longest first (so "medico di base" wins over "medico").
fn phrases() -> &'static [Phrase] {
    static P: OnceLock<Vec<Phrase>> = OnceLock::new();
    P.get_or_init(|| {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let table = SPECIALTY_WORDS
            .iter()
            .flat_map(|(s, list)| list.iter().map(move |w| (*s, w.to_string())));
        // The pages' own names, so what the datalist offers is always understood.
        let labels = Specialty::ALL.into_iter().flat_map(|s| {
            Lang::ALL
                .into_iter()
                .map(move |l| (s, l.t(&format!("specialty.{}", s.code())).to_owned()))
        });
        for (specialty, text) in table.chain(labels) {
            let w = words(&text);
            if !w.is_empty() && seen.insert(w.clone()) {
                out.push(Phrase {
                    chars: w.iter().map(|x| x.chars().collect()).collect(),
                    words: w,
                    specialty,
                });
            }
        }
        out.sort_by_key(|p| std::cmp::Reverse(p.words.len()));
        out
    })
}

pub fn is_stopword(w: &str) -> bool {
    STOPWORDS.contains(&w)
}

/// How a query was read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Understood {
    pub specialty: Option<Specialty>,
    pub place: Option<PlaceHit>,
    /// Folded words left for the practitioner's name.
    pub names: Vec<String>,
    /// Words whose meaning needed typo tolerance or a prefix (shown as a correction).
    pub corrected: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Pending,
    Used,
}

/// How a query word may match a specialty word.
#[derive(Clone, Copy, PartialEq)]
pub enum Tolerance {
    Exact,
    /// Typos within [`allowed_edits`], or the start of the word (4 letters at least).
    Loose,
}

fn word_matches(query: &str, word: &str, chars: &[char], tolerance: Tolerance) -> bool {
    if query == word {
        return true;
    }
    if tolerance == Tolerance::Exact {
        return false;
    }
    let q: Vec<char> = query.chars().collect();
    (q.len() >= 4 && word.starts_with(query))
        || distance(&q, chars, allowed_edits(q.len()), false).is_some()
}

/// The specialty phrase that `tokens` start with, and how many words it took.
pub fn specialty_at(tokens: &[String], tolerance: Tolerance) -> Option<(usize, Specialty)> {
    phrases().iter().find_map(|p| {
        (p.words.len() <= tokens.len()
            && p.words
                .iter()
                .zip(&p.chars)
                .zip(tokens)
                .all(|((w, c), t)| word_matches(t, w, c, tolerance)))
        .then_some((p.words.len(), p.specialty))
    })
}

/// The specialty closest to a word that named nothing, for suggestions: a shared start of
/// four letters or more ("psycholog" → psychiatrist), or a few more typos than search allows.
pub fn closest_specialties(word: &str) -> Vec<Specialty> {
    let q: Vec<char> = word.chars().collect();
    if q.len() < 3 {
        return Vec::new();
    }
    let mut scored: Vec<(usize, Specialty)> = phrases()
        .iter()
        .flat_map(|p| p.chars.iter().map(move |c| (c, p.specialty)))
        .filter_map(|(c, s)| {
            let common = q.iter().zip(c).take_while(|(a, b)| a == b).count();
            let d = distance(&q, c, allowed_edits(q.len()) + 1, false);
            match (common >= 4, d) {
                (_, Some(d)) => Some((d, s)),
                (true, None) => Some((10 - common.min(9), s)),
                _ => None,
            }
        })
        .collect();
    scored.sort();
    let mut out = Vec::new();
    for (_, s) in scored {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.truncate(3);
    out
}

/// How closely a word must match a word of a practitioner's name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NameMatch {
    Exact,
    /// The word, or a word it starts.
    Prefix,
    /// Also within the typos its length allows.
    Typo,
}

/// Reads `tokens` (folded words). `knows_name(word, how)` tells whether a directory name has
/// that word. With `names_first`, words that are or start a directory name word stay names
/// even when they could name a place or specialty: the second reading when the first found
/// nobody ("Florence Dupont", "Dr Paris", "Font" for Fontaine where Font is a village).
pub fn understand(
    tokens: &[String],
    knows_name: &dyn Fn(&str, NameMatch) -> bool,
    names_first: bool,
) -> Understood {
    let g = gazetteer::get();
    let mut roles = vec![Role::Pending; tokens.len()];
    let mut out = Understood::default();
    let reserved = |i: usize| names_first && knows_name(&tokens[i], NameMatch::Prefix);

    // Exact phrases first, left to right.
    let mut i = 0;
    while i < tokens.len() {
        if !reserved(i) {
            if let Some((n, s)) = specialty_at(&tokens[i..], Tolerance::Exact) {
                out.specialty.get_or_insert(s);
                roles[i..i + n].fill(Role::Used);
                i += n;
                continue;
            }
            if out.place.is_none() {
                if let Some((n, hit)) = g.phrase(&tokens[i..]) {
                    out.place = Some(hit);
                    roles[i..i + n].fill(Role::Used);
                    i += n;
                    continue;
                }
            }
        }
        i += 1;
    }
    // Words that start no name: typos or starts of a specialty; then, if they are no name
    // with a typo either, of a place.
    let unknown = |i: usize, roles: &[Role], how: NameMatch| {
        roles[i] == Role::Pending && !is_stopword(&tokens[i]) && !knows_name(&tokens[i], how)
    };
    for i in 0..tokens.len() {
        if !unknown(i, &roles, NameMatch::Prefix) {
            continue;
        }
        if let Some((n, s)) = specialty_at(&tokens[i..], Tolerance::Loose) {
            if (i..i + n).all(|j| roles[j] == Role::Pending) {
                out.specialty.get_or_insert(s);
                out.corrected = true;
                roles[i..i + n].fill(Role::Used);
            }
        }
    }
    if out.place.is_none() {
        'spans: for n in (1..=3).rev() {
            for i in 0..tokens.len().saturating_sub(n - 1) {
                if (i..i + n).all(|j| unknown(j, &roles, NameMatch::Typo)) {
                    if let Some(hit) = g.fuzzy(&tokens[i..i + n].join(" ")) {
                        out.place = Some(hit);
                        out.corrected = true;
                        roles[i..i + n].fill(Role::Used);
                        break 'spans;
                    }
                }
            }
        }
    }
    out.names = tokens
        .iter()
        .zip(&roles)
        .filter(|(t, r)| **r == Role::Pending && !is_stopword(t))
        .map(|(t, _)| t.clone())
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(q: &str) -> Understood {
        let names = ["dupont", "martin", "florence", "paris", "rossi", "muller"];
        let knows = |w: &str, how: NameMatch| {
            names.iter().any(|n| match how {
                NameMatch::Exact => *n == w,
                _ => n.starts_with(w),
            })
        };
        understand(&words(q), &knows, false)
    }

    #[test]
    fn specialties_in_four_languages() {
        use Specialty::*;
        for (q, s) in [
            ("médecin", GeneralPractitioner),
            ("généraliste", GeneralPractitioner),
            ("medecin generaliste", GeneralPractitioner),
            ("Hausarzt", GeneralPractitioner),
            ("Allgemeinmedizin", GeneralPractitioner),
            ("Allgemeinarzt", GeneralPractitioner),
            ("medico di base", GeneralPractitioner),
            ("medico di famiglia", GeneralPractitioner),
            ("GP", GeneralPractitioner),
            ("family doctor", GeneralPractitioner),
            ("dentiste", Dentist),
            ("Zahnarzt", Dentist),
            ("dentista", Dentist),
            ("kiné", Physiotherapist),
            ("Physiotherapeut", Physiotherapist),
            ("pédiatre", Pediatrician),
            ("Kinderarzt", Pediatrician),
            ("Frauenarzt", Gynecologist),
            ("oculista", Ophthalmologist),
            ("sage-femme", Midwife),
            ("Impfzentrum", VaccinationCenter),
            ("Kardiologe", Cardiologist),
            ("psichiatra", Psychiatrist),
            ("Hautarzt", Dermatologist),
            // typos and starts
            ("dentsite", Dentist),
            ("generalist", GeneralPractitioner),
            ("Zahnartz", Dentist),
            ("pediatr", Pediatrician),
            ("kinesitherapeuthe", Physiotherapist),
        ] {
            let u = read(q);
            assert_eq!(u.specialty, Some(s), "{q}");
            assert!(u.names.is_empty(), "{q}: {:?}", u.names);
        }
        for s in Specialty::ALL {
            for l in Lang::ALL {
                let label = l.t(&format!("specialty.{}", s.code()));
                assert_eq!(read(label).specialty, Some(s), "{label}");
            }
        }
    }

    #[test]
    fn specialty_place_and_name_together() {
        let u = read("Dentiste / paris 11");
        assert_eq!(u.specialty, Some(Specialty::Dentist));
        assert_eq!(
            u.place.as_ref().map(|p| p.label.as_str()),
            Some("Paris 11e")
        );
        assert!(u.names.is_empty());

        let u = read("dentiste dupont");
        assert_eq!(u.specialty, Some(Specialty::Dentist));
        assert_eq!(u.names, vec!["dupont"]);
        assert!(u.place.is_none());

        let u = read("Dr Martin à Lyon 3e");
        assert_eq!(u.names, vec!["martin"]);
        assert_eq!(u.place.map(|p| p.label), Some("Lyon 3e".into()));

        let u = read("Zahnarzt in München");
        assert_eq!(u.specialty, Some(Specialty::Dentist));
        assert_eq!(u.place.map(|p| p.label), Some("München".into()));

        let u = read("pediatra 20121");
        assert_eq!(u.specialty, Some(Specialty::Pediatrician));
        assert_eq!(u.place.map(|p| p.postcodes), Some(vec!["20121".into()]));

        let u = read("cardiologue marseile");
        assert_eq!(u.place.map(|p| p.label), Some("Marseille".into()));
        assert!(u.corrected);

        // A name that is also a town is a name on the second reading.
        let names = ["florence", "dupont"];
        let knows = |w: &str, _: NameMatch| names.contains(&w);
        let u = understand(&words("Florence Dupont"), &knows, true);
        assert_eq!(u.names, vec!["florence", "dupont"]);
        assert!(u.place.is_none());
    }

    #[test]
    fn suggestions_for_words_that_name_nothing() {
        assert_eq!(
            closest_specialties("psychologue").first(),
            Some(&Specialty::Psychiatrist)
        );
        assert!(closest_specialties("xy").is_empty());
    }
}
