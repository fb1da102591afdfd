//! `careslot serve --demo`: a realistic demo directory.
//!
//! About 300 practitioners in twelve French cities, 50 patients and about 600 appointments over
//! the next two weeks, all written through the [`Store`] trait like the API would. Everything
//! is drawn from a seeded generator, so the same seed gives the same people, places, agendas
//! and bookings (ids and timestamps excepted). Every demo account logs in with
//! [`DEMO_PASSWORD`].
//!
//! The name, motive and opening-hours catalogues are shared with `careslot bench`.

use anyhow::{anyhow, Context};
use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::Argon2;
use careslot_core::availability::AgendaView;
use careslot_domain::*;
use careslot_server::services::{App, Caller};
use careslot_store::{Agenda, AgendaSnapshot, Place, Practitioner, Role, StoreError};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::HashSet;
use std::time::Instant;

/// The password of every demo account (practitioners and patients).
pub const DEMO_PASSWORD: &str = "careslot-demo";
/// Domain of the demo e-mail addresses (`.test` is reserved: no mail can ever go there).
pub const DEMO_EMAIL_DOMAIN: &str = "demo.careslot.test";
pub(crate) const TIMEZONE: &str = "Europe/Paris";

const PRACTITIONERS: usize = 300;
const PATIENTS: usize = 50;
const APPOINTMENTS: usize = 600;
/// Appointments are booked on local dates `today ..= today + BOOKING_DAYS - 1`.
const BOOKING_DAYS: i32 = 14;

/// What [`seed`] created (or found).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DemoSummary {
    /// True when the store already had a directory: nothing was written.
    pub already_seeded: bool,
    pub seed: u64,
    pub practitioners: usize,
    pub places: usize,
    pub agendas: usize,
    pub motives: usize,
    pub opening_rules: usize,
    pub absences: usize,
    pub patients: usize,
    pub appointments: usize,
    /// Bookings the store refused as conflicting (skipped; normally 0).
    pub skipped_conflicts: usize,
    /// Practitioners per city, in the catalogue's order.
    pub cities: Vec<CityCount>,
    pub demo_password: &'static str,
    pub sample_practitioner_email: Option<String>,
    pub sample_patient_email: Option<String>,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CityCount {
    pub city: &'static str,
    pub practitioners: usize,
}

// --- catalogues (shared with the benchmarks) ----------------------------------------------------

pub(crate) const FIRST_NAMES: &[&str] = &[
    "Marie",
    "Jean",
    "Pierre",
    "Sophie",
    "Camille",
    "Thomas",
    "Nicolas",
    "Julie",
    "Isabelle",
    "Philippe",
    "Nathalie",
    "Laurent",
    "Céline",
    "Antoine",
    "Émilie",
    "François",
    "Claire",
    "Julien",
    "Aurélie",
    "Mathieu",
    "Hélène",
    "Olivier",
    "Sandrine",
    "Stéphane",
    "Valérie",
    "Christophe",
    "Caroline",
    "Sébastien",
    "Anne",
    "Guillaume",
    "Élodie",
    "Maxime",
    "Chloé",
    "Alexandre",
    "Léa",
    "Vincent",
    "Manon",
    "David",
    "Laure",
    "Benoît",
    "Inès",
    "Karim",
    "Yasmine",
    "Mehdi",
    "Sarah",
    "Hugo",
    "Louise",
    "Paul",
    "Emma",
    "Lucas",
    "Agnès",
    "Thierry",
    "Delphine",
    "Frédéric",
    "Virginie",
    "Jérôme",
    "Pauline",
    "Romain",
    "Margaux",
    "Amina",
    "Nadia",
    "Samir",
    "Léna",
    "Arthur",
    "Juliette",
    "Gabriel",
    "Raphaël",
    "Zoé",
    "Bruno",
    "Cécile",
    "Anaïs",
    "Yann",
    "Gaëlle",
    "Loïc",
    "Mathilde",
    "Rémi",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefebvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefèvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Masson",
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Lemaire",
    "Noël",
    "Meyer",
    "Dufour",
    "Meunier",
    "Brun",
    "Blanchard",
    "Giraud",
    "Joly",
    "Rivière",
    "Lucas",
    "Brunet",
    "Gaillard",
    "Barbier",
    "Arnaud",
    "Martinez",
    "Gérard",
    "Roche",
    "Renard",
    "Schmitt",
    "Roy",
    "Leroux",
    "Colin",
    "Vidal",
    "Caron",
    "Picard",
    "Fabre",
    "Aubert",
    "Lemoine",
    "Renaud",
    "Dumas",
    "Lacroix",
    "Bourgeois",
    "Leclerc",
    "Le Gall",
    "Le Goff",
    "Prévost",
    "Pelletier",
    "Lebrun",
    "Weber",
    "Hamon",
    "Benali",
    "Nguyen",
    "Haddad",
    "Diallo",
    "Cohen",
    "Traoré",
    "Mendes",
    "Ferreira",
    "Da Silva",
    "Kaci",
    "Bouvier",
    "Charpentier",
];

const STREETS: &[&str] = &[
    "rue de la République",
    "avenue Jean Jaurès",
    "boulevard Victor Hugo",
    "rue Gambetta",
    "rue Pasteur",
    "avenue du Général de Gaulle",
    "rue Nationale",
    "place de la Liberté",
    "rue Voltaire",
    "rue Émile Zola",
    "rue du Maréchal Foch",
    "avenue de la Gare",
    "rue Jules Ferry",
    "rue Carnot",
    "rue de Verdun",
    "rue des Lilas",
    "rue du Moulin",
    "avenue Foch",
    "rue Saint-Michel",
    "rue de l'Église",
    "rue Paul Bert",
    "rue Lafayette",
    "rue Jean Moulin",
    "rue de la Paix",
    "boulevard Pasteur",
    "rue Anatole France",
    "avenue de la Libération",
    "rue Alsace-Lorraine",
    "rue Henri Barbusse",
    "place du Marché",
];

const LANGUAGES_EXTRA: &[&str] = &["de", "it", "es", "ar"];

/// Relative frequency of a specialty among generated practitioners.
pub(crate) fn specialty_weight(s: Specialty) -> f64 {
    match s {
        Specialty::GeneralPractitioner => 30.0,
        Specialty::Dentist => 14.0,
        Specialty::Physiotherapist => 11.0,
        Specialty::Pediatrician => 7.0,
        Specialty::Gynecologist => 7.0,
        Specialty::Dermatologist => 6.0,
        Specialty::Ophthalmologist => 6.0,
        Specialty::Psychiatrist => 5.0,
        Specialty::Cardiologist => 3.0,
        Specialty::Midwife => 3.0,
        Specialty::VaccinationCenter => 2.0,
    }
}

pub(crate) fn specialty_distribution() -> anyhow::Result<WeightedIndex<f64>> {
    WeightedIndex::new(Specialty::ALL.iter().map(|s| specialty_weight(*s)))
        .map_err(|e| anyhow!("specialty weights: {e}"))
}

/// Whether the practitioner is addressed as "Dr".
fn is_doctor(s: Specialty) -> bool {
    !matches!(
        s,
        Specialty::Physiotherapist | Specialty::Midwife | Specialty::VaccinationCenter
    )
}

fn title_fr(s: Specialty) -> &'static str {
    match s {
        Specialty::GeneralPractitioner => "Médecin généraliste",
        Specialty::Dentist => "Chirurgien-dentiste",
        Specialty::Pediatrician => "Pédiatre",
        Specialty::Dermatologist => "Dermatologue",
        Specialty::Gynecologist => "Gynécologue",
        Specialty::Ophthalmologist => "Ophtalmologue",
        Specialty::Physiotherapist => "Masseur-kinésithérapeute",
        Specialty::Psychiatrist => "Psychiatre",
        Specialty::Cardiologist => "Cardiologue",
        Specialty::Midwife => "Sage-femme",
        Specialty::VaccinationCenter => "Centre de vaccination",
    }
}

struct MotiveTemplate {
    name: &'static str,
    duration_min: i64,
    teleconsultation: bool,
    new_patients_only: bool,
}

const fn mt(name: &'static str, duration_min: i64) -> MotiveTemplate {
    MotiveTemplate {
        name,
        duration_min,
        teleconsultation: false,
        new_patients_only: false,
    }
}

const fn tele(name: &'static str, duration_min: i64) -> MotiveTemplate {
    MotiveTemplate {
        name,
        duration_min,
        teleconsultation: true,
        new_patients_only: false,
    }
}

const fn first_visit(name: &'static str, duration_min: i64) -> MotiveTemplate {
    MotiveTemplate {
        name,
        duration_min,
        teleconsultation: false,
        new_patients_only: true,
    }
}

/// Visit motives of a specialty; the first one is always offered.
fn motive_templates(s: Specialty) -> &'static [MotiveTemplate] {
    const GP: &[MotiveTemplate] = &[
        mt("Consultation de médecine générale", 15),
        first_visit("Première consultation", 20),
        tele("Téléconsultation", 15),
        mt("Renouvellement d'ordonnance", 10),
        mt("Certificat médical de sport", 15),
    ];
    const DENTIST: &[MotiveTemplate] = &[
        mt("Consultation dentaire", 20),
        mt("Détartrage", 30),
        mt("Urgence dentaire", 15),
        mt("Soins dentaires", 45),
    ];
    const PEDIATRICIAN: &[MotiveTemplate] = &[
        mt("Consultation pédiatrique", 20),
        mt("Vaccination de l'enfant", 15),
        mt("Suivi du nourrisson", 30),
        first_visit("Première consultation", 30),
    ];
    const DERMATOLOGIST: &[MotiveTemplate] = &[
        mt("Consultation de dermatologie", 20),
        mt("Contrôle des grains de beauté", 30),
        first_visit("Première consultation", 30),
    ];
    const GYNECOLOGIST: &[MotiveTemplate] = &[
        mt("Consultation de gynécologie", 30),
        mt("Frottis de dépistage", 20),
        mt("Suivi de grossesse", 30),
        first_visit("Première consultation", 40),
    ];
    const OPHTHALMOLOGIST: &[MotiveTemplate] = &[
        mt("Consultation d'ophtalmologie", 20),
        mt("Renouvellement de lunettes", 15),
        mt("Fond d'œil", 30),
    ];
    const PHYSIOTHERAPIST: &[MotiveTemplate] = &[
        mt("Séance de kinésithérapie", 30),
        first_visit("Bilan kinésithérapique", 45),
        mt("Rééducation post-opératoire", 45),
    ];
    const PSYCHIATRIST: &[MotiveTemplate] = &[
        mt("Consultation de suivi", 30),
        first_visit("Première consultation", 45),
        tele("Téléconsultation de suivi", 30),
    ];
    const CARDIOLOGIST: &[MotiveTemplate] = &[
        mt("Consultation de cardiologie", 30),
        mt("Électrocardiogramme", 20),
        mt("Échographie cardiaque", 45),
    ];
    const MIDWIFE: &[MotiveTemplate] = &[
        mt("Suivi de grossesse", 30),
        mt("Préparation à la naissance", 45),
        mt("Rééducation périnéale", 30),
        tele("Téléconsultation", 20),
    ];
    const VACCINATION: &[MotiveTemplate] = &[mt("Vaccination", 10)];
    match s {
        Specialty::GeneralPractitioner => GP,
        Specialty::Dentist => DENTIST,
        Specialty::Pediatrician => PEDIATRICIAN,
        Specialty::Dermatologist => DERMATOLOGIST,
        Specialty::Gynecologist => GYNECOLOGIST,
        Specialty::Ophthalmologist => OPHTHALMOLOGIST,
        Specialty::Physiotherapist => PHYSIOTHERAPIST,
        Specialty::Psychiatrist => PSYCHIATRIST,
        Specialty::Cardiologist => CARDIOLOGIST,
        Specialty::Midwife => MIDWIFE,
        Specialty::VaccinationCenter => VACCINATION,
    }
}

/// 2–3 motives (the specialty's main one first); a vaccination centre has one pooled motive
/// "Vaccination" of 10 minutes with 4 places per start. `min_notice_min` applies to all.
pub(crate) fn make_motives(
    rng: &mut impl Rng,
    agenda: &AgendaId,
    specialty: Specialty,
    min_notice_min: u32,
) -> anyhow::Result<Vec<Motive>> {
    let templates = motive_templates(specialty);
    let mut chosen: Vec<&MotiveTemplate> = Vec::with_capacity(3);
    if let Some((main, rest)) = templates.split_first() {
        chosen.push(main);
        let extra = rng.gen_range(1..=2).min(rest.len());
        chosen.extend(rest.choose_multiple(rng, extra));
    }
    let capacity = if specialty == Specialty::VaccinationCenter {
        4
    } else {
        1
    };
    chosen
        .into_iter()
        .map(|t| {
            let policy = MotivePolicy {
                teleconsultation: t.teleconsultation,
                new_patients_only: t.new_patients_only,
                bookable_online: true,
                min_notice_min,
                max_horizon_days: 90,
            };
            Motive::parse(
                MotiveId::new(),
                agenda.clone(),
                t.name,
                t.duration_min,
                capacity,
                policy,
            )
            .map_err(|e| anyhow!("demo motive {:?}: {e:?}", t.name))
        })
        .collect()
}

fn pick<T: Copy>(rng: &mut impl Rng, options: &[T]) -> anyhow::Result<T> {
    options
        .choose(rng)
        .copied()
        .ok_or_else(|| anyhow!("empty choice"))
}

fn hm(hour: i8, minute: i8) -> anyhow::Result<Time> {
    Time::new(hour, minute, 0, 0).map_err(|e| anyhow!("time {hour}:{minute}: {e}"))
}

fn rule(
    agenda: &AgendaId,
    days: &[i64],
    start: (i8, i8),
    end: (i8, i8),
    motives: Vec<MotiveId>,
) -> anyhow::Result<OpeningRule> {
    let weekdays = WeekdaySet::parse(days).map_err(|e| anyhow!("weekdays: {e:?}"))?;
    OpeningRule::parse(
        RuleId::new(),
        agenda.clone(),
        weekdays,
        hm(start.0, start.1)?,
        hm(end.0, end.1)?,
        motives,
        None,
        None,
    )
    .map_err(|e| anyhow!("demo opening rule: {e:?}"))
}

/// Weekly opening hours, 2–4 rules: mornings and afternoons on weekdays (some practitioners
/// off on Wednesday or Friday, various start and end times), sometimes Saturday morning or a
/// late Thursday evening. Vaccination centres open continuously.
pub(crate) fn make_rules(
    rng: &mut impl Rng,
    agenda: &AgendaId,
    specialty: Specialty,
    motives: &[Motive],
) -> anyhow::Result<Vec<OpeningRule>> {
    let all: Vec<MotiveId> = motives.iter().map(|m| m.id.clone()).collect();
    let main: Vec<MotiveId> = all.iter().take(1).cloned().collect();
    let mut rules = Vec::with_capacity(4);
    if specialty == Specialty::VaccinationCenter {
        let (start, end) = pick(
            rng,
            &[((9, 0), (17, 0)), ((8, 30), (18, 0)), ((10, 0), (19, 0))],
        )?;
        rules.push(rule(agenda, &[1, 2, 3, 4, 5], start, end, all.clone())?);
        rules.push(rule(agenda, &[6], (9, 0), (13, 0), all)?);
        return Ok(rules);
    }
    let mut days: Vec<i64> = vec![1, 2, 3, 4, 5];
    let day_off = rng.gen::<f64>();
    if day_off < 0.15 {
        days.retain(|d| *d != 3);
    } else if day_off < 0.25 {
        days.retain(|d| *d != 5);
    }
    let am_start = pick(rng, &[(8, 0), (8, 30), (8, 30), (9, 0)])?;
    let am_end = pick(rng, &[(12, 0), (12, 30), (12, 30)])?;
    let pm_start = pick(rng, &[(13, 30), (14, 0), (14, 0)])?;
    let pm_end = pick(rng, &[(17, 30), (18, 0), (18, 30), (18, 30), (19, 0)])?;
    rules.push(rule(agenda, &days, am_start, am_end, all.clone())?);
    let mut pm_days = days.clone();
    if rng.gen_bool(0.2) && pm_days.len() > 1 {
        // Wednesday afternoon off, a French classic.
        pm_days.retain(|d| *d != 3);
    }
    rules.push(rule(agenda, &pm_days, pm_start, pm_end, all.clone())?);
    let saturday = match specialty {
        Specialty::GeneralPractitioner | Specialty::Dentist | Specialty::Physiotherapist => 0.35,
        Specialty::Pediatrician | Specialty::Ophthalmologist => 0.25,
        _ => 0.1,
    };
    if rng.gen_bool(saturday) {
        rules.push(rule(agenda, &[6], (9, 0), (12, 0), main)?);
    }
    if rng.gen_bool(0.15) && pm_days.contains(&4) {
        rules.push(rule(agenda, &[4], pm_end, (20, 30), all)?);
    }
    Ok(rules)
}

/// A person's name or a vaccination centre's, and the matching place name.
pub(crate) struct Identity {
    pub first: &'static str,
    pub last: &'static str,
    /// Public name in the directory ("Dr Claire Martin", "Centre de vaccination Lyon Nord").
    pub display: String,
    pub place_name: String,
}

pub(crate) fn make_identity(rng: &mut impl Rng, specialty: Specialty, city: &str) -> Identity {
    let first = FIRST_NAMES.choose(rng).copied().unwrap_or("Claire");
    let last = LAST_NAMES.choose(rng).copied().unwrap_or("Martin");
    let (display, place_name) = match specialty {
        Specialty::VaccinationCenter => {
            let part = ["Centre", "Nord", "Sud", "Est", "Ouest", "Gare"]
                .choose(rng)
                .copied()
                .unwrap_or("Centre");
            let name = format!("Centre de vaccination {city} {part}");
            (name.clone(), name)
        }
        Specialty::Physiotherapist => (
            format!("{first} {last}"),
            format!("Cabinet de kinésithérapie {last}"),
        ),
        Specialty::Midwife => (
            format!("{first} {last}"),
            format!("Cabinet de sage-femme {first} {last}"),
        ),
        Specialty::Dentist => (
            format!("Dr {first} {last}"),
            format!("Cabinet dentaire du Dr {last}"),
        ),
        s if is_doctor(s) => {
            let place = if rng.gen_bool(0.3) {
                format!("Maison de santé {city}")
            } else {
                format!("Cabinet du Dr {last}")
            };
            (format!("Dr {first} {last}"), place)
        }
        _ => (format!("{first} {last}"), format!("Cabinet {last}")),
    };
    Identity {
        first,
        last,
        display,
        place_name,
    }
}

pub(crate) fn make_address(rng: &mut impl Rng) -> String {
    let street = STREETS
        .choose(rng)
        .copied()
        .unwrap_or("rue de la République");
    let number = rng.gen_range(1..=140);
    if rng.gen_bool(0.08) {
        format!("{number} bis {street}")
    } else {
        format!("{number} {street}")
    }
}

pub(crate) fn make_languages(rng: &mut impl Rng) -> Vec<String> {
    let mut languages = vec!["fr".to_owned()];
    if rng.gen_bool(0.35) {
        languages.push("en".to_owned());
    }
    if rng.gen_bool(0.12) {
        if let Some(l) = LANGUAGES_EXTRA.choose(rng) {
            languages.push((*l).to_owned());
        }
    }
    languages
}

/// A point up to `radius_km` from `(lat, lon)`, uniform over the disc.
pub(crate) fn jitter(rng: &mut impl Rng, lat: f64, lon: f64, radius_km: f64) -> (f64, f64) {
    let r = radius_km * rng.gen::<f64>().sqrt();
    let angle = rng.gen::<f64>() * std::f64::consts::TAU;
    let dlat = r * angle.sin() / 110.574;
    let dlon = r * angle.cos() / (111.320 * lat.to_radians().cos());
    (lat + dlat, lon + dlon)
}

/// ASCII e-mail fragment: "Lefèvre" → "lefevre", "Le Gall" → "le-gall".
fn email_part(s: &str) -> String {
    let folded = careslot_core::search::fold(s);
    let mut out = String::with_capacity(folded.len());
    for c in folded.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// Local midnight of `date` as an instant.
pub(crate) fn local_midnight(date: Date, tz: &TimeZone) -> anyhow::Result<Timestamp> {
    Ok(date.to_zoned(tz.clone())?.timestamp())
}

// --- the demo ----------------------------------------------------------------------------------

struct City {
    name: &'static str,
    lat: f64,
    lon: f64,
    postcodes: &'static [&'static str],
    /// Relative share of practitioners.
    weight: f64,
    jitter_km: f64,
}

const CITIES: &[City] = &[
    City {
        name: "Paris",
        lat: 48.8566,
        lon: 2.3522,
        postcodes: &[
            "75001", "75002", "75003", "75004", "75005", "75006", "75007", "75008", "75009",
            "75010", "75011", "75012", "75013", "75014", "75015", "75016", "75017", "75018",
            "75019", "75020",
        ],
        weight: 60.0,
        jitter_km: 5.0,
    },
    City {
        name: "Marseille",
        lat: 43.2965,
        lon: 5.3698,
        postcodes: &[
            "13001", "13002", "13004", "13005", "13006", "13007", "13008", "13009", "13010",
            "13012", "13013",
        ],
        weight: 30.0,
        jitter_km: 5.0,
    },
    City {
        name: "Lyon",
        lat: 45.7640,
        lon: 4.8357,
        postcodes: &[
            "69001", "69002", "69003", "69004", "69005", "69006", "69007", "69008", "69009",
        ],
        weight: 28.0,
        jitter_km: 4.0,
    },
    City {
        name: "Toulouse",
        lat: 43.6047,
        lon: 1.4442,
        postcodes: &["31000", "31100", "31200", "31300", "31400", "31500"],
        weight: 24.0,
        jitter_km: 4.0,
    },
    City {
        name: "Nice",
        lat: 43.7102,
        lon: 7.2620,
        postcodes: &["06000", "06100", "06200", "06300"],
        weight: 18.0,
        jitter_km: 3.0,
    },
    City {
        name: "Nantes",
        lat: 47.2184,
        lon: -1.5536,
        postcodes: &["44000", "44100", "44200", "44300"],
        weight: 18.0,
        jitter_km: 4.0,
    },
    City {
        name: "Strasbourg",
        lat: 48.5734,
        lon: 7.7521,
        postcodes: &["67000", "67100", "67200"],
        weight: 15.0,
        jitter_km: 3.0,
    },
    City {
        name: "Montpellier",
        lat: 43.6108,
        lon: 3.8767,
        postcodes: &["34000", "34070", "34080", "34090"],
        weight: 16.0,
        jitter_km: 3.0,
    },
    City {
        name: "Bordeaux",
        lat: 44.8378,
        lon: -0.5792,
        postcodes: &["33000", "33100", "33200", "33300", "33800"],
        weight: 18.0,
        jitter_km: 4.0,
    },
    City {
        name: "Lille",
        lat: 50.6292,
        lon: 3.0573,
        postcodes: &["59000", "59160", "59260", "59800"],
        weight: 17.0,
        jitter_km: 3.0,
    },
    City {
        name: "Rennes",
        lat: 48.1173,
        lon: -1.6778,
        postcodes: &["35000", "35200", "35700"],
        weight: 13.0,
        jitter_km: 3.0,
    },
    City {
        name: "Grenoble",
        lat: 45.1885,
        lon: 5.7245,
        postcodes: &["38000", "38100"],
        weight: 12.0,
        jitter_km: 3.0,
    },
];

fn bio(
    rng: &mut impl Rng,
    specialty: Specialty,
    city: &str,
    languages: &[String],
) -> Option<String> {
    if specialty == Specialty::VaccinationCenter {
        return Some(format!(
            "Centre de vaccination de {city}. Vaccinations sur rendez-vous, plusieurs lignes en \
             parallèle. Se munir de sa carte Vitale."
        ));
    }
    if !rng.gen_bool(0.6) {
        return None;
    }
    let mut text = format!(
        "{} à {city}. Consultations sur rendez-vous uniquement.",
        title_fr(specialty)
    );
    if languages.iter().any(|l| l == "en") {
        text.push_str(" English spoken.");
    }
    if rng.gen_bool(0.3) {
        text.push_str(" Cabinet accessible aux personnes à mobilité réduite.");
    }
    Some(text)
}

/// One created agenda, kept to place the appointments.
struct Seeded {
    view: AgendaView,
    /// Relative share of the appointments: a few practitioners are much in demand.
    popularity: f64,
}

/// Fills an empty store with the demo directory; does nothing when the store already has a
/// directory (so `serve --demo` can be run again on the same data).
pub async fn seed(app: &App, seed: u64) -> anyhow::Result<DemoSummary> {
    let store = &*app.store;
    let started = Instant::now();
    let existing = store.directory().await?;
    if !existing.is_empty() {
        let practitioners: HashSet<&PractitionerId> =
            existing.iter().map(|e| &e.practitioner_id).collect();
        let places: HashSet<&PlaceId> = existing.iter().map(|e| &e.place.id).collect();
        return Ok(DemoSummary {
            already_seeded: true,
            seed,
            practitioners: practitioners.len(),
            places: places.len(),
            agendas: existing.len(),
            demo_password: DEMO_PASSWORD,
            elapsed_ms: elapsed_ms(started),
            ..DemoSummary::default()
        });
    }

    // One hash for every account: Argon2 is deliberately slow.
    let password_hash = tokio::task::spawn_blocking(|| {
        Argon2::default()
            .hash_password(DEMO_PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
            .map(|h| h.to_string())
    })
    .await
    .context("password hashing task failed")?
    .map_err(|e| anyhow!("password hashing failed: {e}"))?;

    let tz = TimeZone::get(TIMEZONE)?;
    let now = Timestamp::now();
    let today = tz.to_datetime(now).date();
    let mut rng = StdRng::seed_from_u64(seed);
    let city_dist = WeightedIndex::new(CITIES.iter().map(|c| c.weight))
        .map_err(|e| anyhow!("city weights: {e}"))?;
    let specialty_dist = specialty_distribution()?;

    let mut summary = DemoSummary {
        seed,
        demo_password: DEMO_PASSWORD,
        cities: CITIES
            .iter()
            .map(|c| CityCount {
                city: c.name,
                practitioners: 0,
            })
            .collect(),
        ..DemoSummary::default()
    };
    let mut seeded: Vec<Seeded> = Vec::with_capacity(PRACTITIONERS);

    for n in 1..=PRACTITIONERS {
        let city_index = city_dist.sample(&mut rng);
        let city = CITIES
            .get(city_index)
            .ok_or_else(|| anyhow!("city index out of range"))?;
        let specialty = Specialty::ALL
            .get(specialty_dist.sample(&mut rng))
            .copied()
            .ok_or_else(|| anyhow!("specialty index out of range"))?;
        let who = make_identity(&mut rng, specialty, city.name);
        let email = if specialty == Specialty::VaccinationCenter {
            format!(
                "vaccination.{}.{n}@{DEMO_EMAIL_DOMAIN}",
                email_part(city.name)
            )
        } else {
            format!(
                "{}.{}.{n}@{DEMO_EMAIL_DOMAIN}",
                email_part(who.first),
                email_part(who.last)
            )
        };
        let account_name = if specialty == Specialty::VaccinationCenter {
            who.display.clone()
        } else {
            format!("{} {}", who.first, who.last)
        };
        let account = app
            .create_identity(
                Role::Practitioner,
                email.clone(),
                account_name,
                None,
                None,
                password_hash.clone(),
            )
            .await
            .map_err(|e| anyhow!("creating demo account {email}: {e}"))?;
        if summary.sample_practitioner_email.is_none() {
            summary.sample_practitioner_email = Some(email);
        }

        let languages = make_languages(&mut rng);
        let bio = bio(&mut rng, specialty, city.name, &languages);
        let practitioner = store
            .upsert_practitioner(&Practitioner {
                id: PractitionerId::new(),
                account_id: account.id.clone(),
                name: who.display.clone(),
                specialty,
                languages,
                bio,
            })
            .await?;
        // Demo practitioners are verified (else nobody would find them): a valid RPPS
        // number of their own, from the reserved-looking range 1099… (not real people's).
        store
            .vouch_practitioner(
                &practitioner.id,
                Some(&ProfessionalId::rpps_from(1_099_000_000 + n as u64)),
                "demo",
                Timestamp::now(),
            )
            .await?;

        let (lat, lon) = jitter(&mut rng, city.lat, city.lon, city.jitter_km);
        let place = Place {
            id: PlaceId::new(),
            practitioner_id: practitioner.id.clone(),
            name: who.place_name.clone(),
            address: make_address(&mut rng),
            postcode: city
                .postcodes
                .choose(&mut rng)
                .map(|p| (*p).to_owned())
                .unwrap_or_default(),
            city: city.name.to_owned(),
            country: Country::France,
            lat,
            lon,
            timezone: TIMEZONE.to_owned(),
        };
        store.create_place(&place).await?;

        let agenda_id = AgendaId::new();
        let agenda = Agenda {
            wrapped_key: app
                .new_agenda_key(&agenda_id)
                .await
                .map_err(|e| anyhow!("agenda key: {e}"))?,
            id: agenda_id,
            practitioner_id: practitioner.id.clone(),
            place_id: place.id.clone(),
            timezone: TIMEZONE.to_owned(),
            holidays: Some(Country::France),
        };
        store.create_agenda(&agenda).await?;

        let min_notice = if rng.gen_bool(0.25) { 120 } else { 0 };
        let motives = make_motives(&mut rng, &agenda.id, specialty, min_notice)?;
        for m in &motives {
            let label = app
                .seal_motive_label(&agenda, m)
                .await
                .map_err(|e| anyhow!("motive label: {e}"))?;
            store.create_motive(m, &label).await?;
        }
        let rules = make_rules(&mut rng, &agenda.id, specialty, &motives)?;
        for r in &rules {
            store.create_rule(r).await?;
        }
        // A few practitioners take a week off in the coming weeks.
        let mut absences = Vec::new();
        if rng.gen_bool(0.05) {
            let first_day = today.checked_add(rng.gen_range(3..40).days())?;
            let back = first_day.checked_add(7.days())?;
            let absence = Absence::parse(
                AbsenceId::new(),
                agenda.id.clone(),
                local_midnight(first_day, &tz)?,
                local_midnight(back, &tz)?,
            )
            .map_err(|e| anyhow!("demo absence: {e:?}"))?;
            store.create_absence(&absence, Some("Congés")).await?;
            absences.push(absence);
        }

        summary.practitioners += 1;
        summary.places += 1;
        summary.agendas += 1;
        summary.motives += motives.len();
        summary.opening_rules += rules.len();
        summary.absences += absences.len();
        if let Some(c) = summary.cities.get_mut(city_index) {
            c.practitioners += 1;
        }
        let popularity = match rng.gen::<f64>() {
            p if p < 0.10 => 12.0,
            p if p < 0.70 => 1.5,
            _ => 0.3,
        };
        let view = AgendaView::from_snapshot(AgendaSnapshot {
            agenda,
            motives,
            motive_labels: Vec::new(),
            motive_translations: Vec::new(),
            rules,
            absences,
            reservations: Vec::new(),
            vaccines: Vec::new(),
            stock: Vec::new(),
            policies: Vec::new(),
            lines: Vec::new(),
            floor_version: 0,
        })?;
        seeded.push(Seeded { view, popularity });
    }

    let mut patients = Vec::with_capacity(PATIENTS);
    for n in 1..=PATIENTS {
        let first = FIRST_NAMES.choose(&mut rng).copied().unwrap_or("Claire");
        let last = LAST_NAMES.choose(&mut rng).copied().unwrap_or("Martin");
        let email = format!("patient{n}@{DEMO_EMAIL_DOMAIN}");
        let account = app
            .create_identity(
                Role::Patient,
                email.clone(),
                format!("{first} {last}"),
                None,
                None,
                password_hash.clone(),
            )
            .await
            .map_err(|e| anyhow!("creating demo account {email}: {e}"))?;
        if summary.sample_patient_email.is_none() {
            summary.sample_patient_email = Some(email);
        }
        patients.push(account.id);
    }
    summary.patients = patients.len();

    let (appointments, conflicts) = book(app, &mut rng, &seeded, &patients, today, now).await?;
    vaccinate(app, &seeded, today).await?;
    // The directory changed under the running services: show it.
    app.directory.replace_all(store.directory().await?);
    summary.appointments = appointments;
    summary.skipped_conflicts = conflicts;
    summary.elapsed_ms = elapsed_ms(started);
    Ok(summary)
}

/// Demo vaccination centres also give Comirnaty: a first-dose motive linked to its
/// second-dose motive (10 minutes, 4 lines, Monday to Saturday 09:00–17:00) and 200 doses a
/// day for the next 60 days, so `serve --demo` shows paired booking at once.
async fn vaccinate(app: &App, seeded: &[Seeded], today: Date) -> anyhow::Result<()> {
    let store = &*app.store;
    for s in seeded {
        let agenda = &s.view.agenda;
        let Some(practitioner) = store.practitioner(&agenda.practitioner_id).await? else {
            continue;
        };
        if practitioner.specialty != Specialty::VaccinationCenter {
            continue;
        }
        let make = |name: &str| {
            Motive::parse(
                MotiveId::new(),
                agenda.id.clone(),
                name,
                10,
                4,
                MotivePolicy::default(),
            )
            .map_err(|e| anyhow!("demo vaccine motive: {e:?}"))
        };
        let (second, first) = (make("Comirnaty – 2e dose")?, make("Comirnaty – 1re dose")?);
        for m in [&second, &first] {
            let label = app
                .seal_motive_label(agenda, m)
                .await
                .map_err(|e| anyhow!("motive label: {e}"))?;
            store.create_motive(m, &label).await?;
        }
        for (m, dose, next) in [
            (&second, Dose::Second, None),
            (&first, Dose::First, Some(second.id.clone())),
        ] {
            store
                .set_motive_vaccine(
                    &agenda.id,
                    &careslot_store::MotiveVaccine {
                        motive_id: m.id.clone(),
                        product: VaccineProduct::Comirnaty,
                        dose,
                        next,
                    },
                )
                .await?;
        }
        store
            .create_rule(&rule(
                &agenda.id,
                &[1, 2, 3, 4, 5, 6],
                (9, 0),
                (17, 0),
                vec![first.id.clone(), second.id.clone()],
            )?)
            .await?;
        for i in 0..60 {
            let day = today.checked_add(i.days())?;
            store
                .set_stock(&agenda.id, VaccineProduct::Comirnaty, day, 200)
                .await?;
        }
        app.agendas.invalidate(&agenda.id);
    }
    Ok(())
}

/// Books about [`APPOINTMENTS`] appointments at real slot starts of the next
/// [`BOOKING_DAYS`] days, more of them with popular practitioners and in the first days.
async fn book(
    app: &App,
    rng: &mut StdRng,
    seeded: &[Seeded],
    patients: &[AccountId],
    today: Date,
    now: Timestamp,
) -> anyhow::Result<(usize, usize)> {
    if seeded.is_empty() || patients.is_empty() {
        return Ok((0, 0));
    }
    let last_day = today.checked_add((BOOKING_DAYS - 1).days())?;
    // Slots of every motive over the period, with the agenda still empty.
    let candidates: Vec<Vec<Vec<Slot>>> = seeded
        .iter()
        .map(|s| {
            s.view
                .motives
                .iter()
                .map(|m| {
                    s.view
                        .calendar
                        .slots(m, &s.view.occupancy, today, last_day, now)
                })
                .collect()
        })
        .collect();
    let agenda_dist = WeightedIndex::new(seeded.iter().map(|s| s.popularity))
        .map_err(|e| anyhow!("popularity weights: {e}"))?;
    let mut booked: Vec<Vec<Reservation>> = vec![Vec::new(); seeded.len()];
    let (mut appointments, mut conflicts) = (0, 0);
    let mut attempts = 0;
    while appointments < APPOINTMENTS && attempts < APPOINTMENTS * 20 {
        attempts += 1;
        let a = agenda_dist.sample(rng);
        let (Some(s), Some(per_motive), Some(taken)) =
            (seeded.get(a), candidates.get(a), booked.get_mut(a))
        else {
            continue;
        };
        // The main motive most of the time.
        let m = if rng.gen_bool(0.6) {
            0
        } else {
            rng.gen_range(0..s.view.motives.len().max(1))
        };
        let (Some(motive), Some(slots)) = (s.view.motives.get(m), per_motive.get(m)) else {
            continue;
        };
        if slots.is_empty() {
            continue;
        }
        // Earlier slots go first.
        let index =
            ((rng.gen::<f64>().powf(1.8) * slots.len() as f64) as usize).min(slots.len() - 1);
        let Some(slot) = slots.get(index) else {
            continue;
        };
        let occupancy = Occupancy::new(taken.clone());
        if occupancy.remaining(motive, slot.start, slot.end, now) == 0 {
            continue;
        }
        let Some(patient) = patients.choose(rng) else {
            continue;
        };
        let caller = Caller {
            id: patient.clone(),
            role: Role::Patient,
            second_factor: false,
        };
        let mut request = app
            .sealed_request(&caller.id, &s.view, motive.id.clone(), slot.start, None)
            .await
            .map_err(|e| anyhow!("sealing a demo booking: {e}"))?;
        request.now = now;
        match app.store.reserve(&request).await {
            Ok(_) => {
                appointments += 1;
                taken.push(Reservation {
                    start: slot.start,
                    end: slot.end,
                    pooled: motive.pooled(),
                    expires_at: None,
                });
            }
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(e) => return Err(e.into()),
        }
    }
    Ok((appointments, conflicts))
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_parts_are_ascii() {
        assert_eq!(email_part("Lefèvre"), "lefevre");
        assert_eq!(email_part("Le Gall"), "le-gall");
        assert_eq!(email_part("Émilie"), "emilie");
        assert_eq!(email_part("Aix-en-Provence"), "aix-en-provence");
    }

    #[tokio::test]
    async fn seeds_once_with_bookable_appointments() {
        let dir = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let store: std::sync::Arc<dyn careslot_store::Store> = std::sync::Arc::new(
            careslot_store_sqlite::SqliteStore::open_dir(dir.path())
                .await
                .unwrap(),
        );
        let engine =
            careslot_vault::KeyEngine::open(keys.path(), careslot_vault::MasterKey::generate())
                .await
                .unwrap();
        let custody = std::sync::Arc::new(careslot_vault::LocalCustody::new(std::sync::Arc::new(
            engine,
        )));
        let protect = careslot_core::protection::Protector::bootstrap(&*store, custody, 16)
            .await
            .unwrap();
        let app = App::new(
            store.clone(),
            std::sync::Arc::new(protect),
            Default::default(),
        )
        .await
        .unwrap();
        let first = seed(&app, 2021).await.unwrap();
        assert!(!first.already_seeded);
        assert_eq!(first.practitioners, PRACTITIONERS);
        assert_eq!(first.patients, PATIENTS);
        assert!(first.appointments >= APPOINTMENTS * 9 / 10, "{first:?}");
        assert_eq!(first.skipped_conflicts, 0);
        assert_eq!(store.directory().await.unwrap().len(), PRACTITIONERS);
        let (_, who) = app
            .login(
                first.sample_patient_email.as_deref().unwrap(),
                DEMO_PASSWORD,
                std::net::Ipv4Addr::LOCALHOST.into(),
            )
            .await
            .unwrap();
        assert_eq!(who.role, Role::Patient);
        let mine = app
            .my_appointments(&Caller {
                id: who.id,
                role: Role::Patient,
                second_factor: false,
            })
            .await
            .unwrap();
        assert!(mine.iter().all(|a| a.note.is_none()));
        assert_eq!(
            app.directory.len(),
            PRACTITIONERS,
            "the running directory shows the demo"
        );

        let again = seed(&app, 2021).await.unwrap();
        assert!(again.already_seeded);
        assert_eq!(again.practitioners, PRACTITIONERS);
        assert_eq!(again.appointments, 0);
    }

    #[test]
    fn catalogue_is_valid() {
        let mut rng = StdRng::seed_from_u64(7);
        for s in Specialty::ALL {
            for _ in 0..50 {
                let agenda = AgendaId::new();
                let motives = make_motives(&mut rng, &agenda, s, 0).unwrap();
                assert!(!motives.is_empty());
                if s == Specialty::VaccinationCenter {
                    assert_eq!(motives.len(), 1);
                    assert_eq!(motives[0].capacity, 4);
                } else {
                    assert!((2..=3).contains(&motives.len()), "{s:?}");
                }
                for m in &motives {
                    assert!((10..=45).contains(&m.duration.get()));
                }
                let rules = make_rules(&mut rng, &agenda, s, &motives).unwrap();
                assert!((2..=4).contains(&rules.len()));
            }
        }
    }
}
