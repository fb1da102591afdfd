//! The services behind the web app, on SQLite and PostgreSQL: a guest's hold handed to the
//! patient who signs in and booked for a relative; assistants (invitation, scope, removal);
//! phone bookings; no-shows and their undo; editing motives, hours and absences.

mod common;

use careslot_domain::{AgendaId, MotivePolicy, ReservationId};
use careslot_server::services::*;
use careslot_store::{ReservationStatus, Role};
use common::{app_on, new_location, open_custody, person, Backend};
use jiff::Timestamp;

struct Practice {
    caller: Caller,
    agenda: AgendaId,
    motive: String,
}

async fn practice(app: &App, name: &str) -> Practice {
    let (caller, _) = person(app, Role::Practitioner, name).await;
    app.set_profile(
        &caller,
        ProfileInput {
            name: name.into(),
            specialty: "dentist".into(),
            languages: vec!["fr".into()],
            bio: None,
        },
    )
    .await
    .expect("profile");
    let place = app
        .create_place(
            &caller,
            NewPlace {
                name: "Cabinet".into(),
                address: "1 rue de la Paix".into(),
                postcode: "75002".into(),
                city: "Paris".into(),
                country: "FR".into(),
                lat: 48.8686,
                lon: 2.3314,
                timezone: "Europe/Paris".into(),
            },
        )
        .await
        .expect("place");
    let agenda = app
        .create_agenda(&caller, place.id.as_str(), Some(None))
        .await
        .expect("agenda");
    let motive = app
        .create_motive(
            &caller,
            &agenda.id,
            NewMotive {
                name: "Contrôle".into(),
                duration_min: 30,
                capacity: 1,
                policy: MotivePolicy::default(),
                vaccine: None,
            },
        )
        .await
        .expect("motive");
    app.create_rule(
        &caller,
        &agenda.id,
        NewRule {
            weekdays: vec![1, 2, 3, 4, 5, 6, 7],
            start: "08:00".into(),
            end: "18:00".into(),
            motive_ids: vec![motive.id.to_string()],
            valid_from: None,
            valid_until: None,
        },
    )
    .await
    .expect("rule");
    Practice {
        caller,
        agenda: agenda.id,
        motive: motive.id.to_string(),
    }
}

/// Free starts over the next week, RFC 3339.
async fn free(app: &App, p: &Practice) -> Vec<String> {
    let from = jiff::Zoned::now().date();
    let to = from.checked_add(jiff::Span::new().days(7)).expect("date");
    let (view, slots) = app
        .slots(SlotQuery {
            agenda_id: p.agenda.as_str(),
            motive_id: &p.motive,
            from: &from.to_string(),
            to: &to.to_string(),
        })
        .await
        .expect("slots");
    slots
        .iter()
        .map(|s| careslot_core::time::format_instant(s.start, &view.tz))
        .collect()
}

async fn app(backend: Backend) -> (App, common::DataLocation) {
    let loc = new_location(backend).await;
    let custody = open_custody(&loc).await;
    (app_on(&loc, custody).await, loc)
}

async fn guest_hold_then_booking_for_a_relative(backend: Backend) {
    let (app, _loc) = app(backend).await;
    let p = practice(&app, "Dr Guest").await;
    let slots = free(&app, &p).await;
    let guest = "guest-0123456789abcdef";
    let hold = app
        .hold(
            Holder::Guest(guest),
            p.agenda.as_str(),
            &p.motive,
            &slots[0],
        )
        .await
        .expect("guest hold");
    assert!(
        !free(&app, &p).await.contains(&slots[0]),
        "a guest's hold takes the place"
    );

    let (alice, _) = person(&app, Role::Patient, "Alice").await;
    let (mallory, _) = person(&app, Role::Patient, "Mallory").await;
    // Only the browser holding the guest id can hand the hold over.
    let stolen = app
        .claim_guest_hold(&mallory, "guest-fedcba9876543210", hold.row.id.as_str())
        .await;
    assert!(matches!(stolen, Err(AppError::NotFound(_))), "{stolen:?}");
    let claimed = app
        .claim_guest_hold(&alice, guest, hold.row.id.as_str())
        .await
        .expect("claim");
    assert_eq!(claimed.patient.as_ref(), Some(&alice.id));
    assert!(matches!(
        app.guest_hold(guest, hold.row.id.as_str()).await,
        Err(AppError::NotFound(_))
    ));

    let leo = app
        .add_relative(&alice, "Léo", Some("2019-05-04"))
        .await
        .expect("relative");
    // Someone else's relative is unknown.
    let other = app
        .book(
            &mallory,
            BookingInput::Direct {
                agenda_id: p.agenda.to_string(),
                motive_id: p.motive.clone(),
                start: slots[1].clone(),
            },
            BookingDetails {
                note: None,
                relative_id: Some(leo.id.as_str()),
            },
            None,
        )
        .await;
    assert!(
        matches!(other, Err(AppError::NotFound("relative"))),
        "{other:?}"
    );
    let booked = app
        .book(
            &alice,
            BookingInput::FromHold {
                hold_id: hold.row.id.to_string(),
            },
            BookingDetails {
                note: Some("fièvre"),
                relative_id: Some(leo.id.as_str()),
            },
            None,
        )
        .await
        .expect("book");
    assert_eq!(booked.row.status, ReservationStatus::Booked);
    assert_eq!(booked.relative.as_ref(), Some(&leo.id));
    let mine = app.my_appointments(&alice).await.expect("mine");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].relative.as_ref(), Some(&leo.id));
    assert_eq!(
        app.relatives(&alice).await.expect("relatives")[0]
            .birth_date
            .as_deref(),
        Some("2019-05-04")
    );
    assert!(app.relatives(&mallory).await.expect("none").is_empty());

    // Erasure removes the relatives with the account and strips the link from the agenda.
    app.erase(&alice.id).await.expect("erase");
    let row = app
        .store
        .reservation(&booked.row.id)
        .await
        .expect("row")
        .expect("kept");
    assert!(row.patient_ct.is_none() && row.relative_ct.is_none() && row.note_ct.is_none());
    assert!(app
        .store
        .relatives(&alice.id)
        .await
        .expect("gone")
        .is_empty());
}

async fn assistants_run_the_agenda_and_nothing_else(backend: Backend) {
    let (app, _loc) = app(backend).await;
    let p = practice(&app, "Dr Boss").await;
    let other = practice(&app, "Dr Other").await;
    let invitation = app.invite_assistant(&p.caller).await.expect("invite");
    let (patient, _) = person(&app, Role::Patient, "Pat").await;
    assert!(matches!(
        app.invite_assistant(&patient).await,
        Err(AppError::Forbidden(_))
    ));

    let here = std::net::Ipv4Addr::LOCALHOST.into();
    let anne = app
        .accept_invitation(
            &invitation.token,
            "anne@example.test",
            "Anne",
            "assistant password",
            careslot_messages::Lang::Fr,
            here,
        )
        .await
        .expect("accept")
        .expect("a new account");
    let again = app
        .accept_invitation(
            &invitation.token,
            "bob@example.test",
            "Bob",
            "assistant password",
            careslot_messages::Lang::Fr,
            here,
        )
        .await;
    assert!(
        matches!(again, Err(AppError::NotFound("invitation"))),
        "single use: {again:?}"
    );
    // Verify first (issue 15): no session before the address is proven.
    let early = app
        .login("anne@example.test", "assistant password", here)
        .await;
    assert!(
        matches!(early, Err(AppError::BadCredentials)),
        "pending: {early:?}"
    );
    // An address that has an account spends the invitation all the same, and no account
    // is made.
    let spare = app.invite_assistant(&p.caller).await.expect("invite");
    let taken = app
        .accept_invitation(
            &spare.token,
            "anne@example.test",
            "Anne Again",
            "assistant password",
            careslot_messages::Lang::Fr,
            here,
        )
        .await
        .expect("the same answer");
    assert!(taken.is_none());
    assert!(matches!(
        app.accept_invitation(
            &spare.token,
            "carl@example.test",
            "Carl",
            "assistant password",
            careslot_messages::Lang::Fr,
            here,
        )
        .await,
        Err(AppError::NotFound("invitation"))
    ));
    // The link mailed proves the address (followed over HTTP in instant_signup.rs); here
    // the store records the proof directly.
    let settings = app
        .store
        .account_settings(&anne.id)
        .await
        .expect("settings");
    assert!(settings.email_pending);
    app.store
        .put_account_settings(
            &anne.id,
            &careslot_store::AccountSettings {
                email_verified_at: Some(Timestamp::now()),
                ..settings
            },
        )
        .await
        .expect("verified");
    assert!(
        !app.store
            .account_settings(&anne.id)
            .await
            .expect("settings")
            .email_pending
    );
    let (token, _) = app
        .login(
            "anne@example.test",
            "assistant password",
            std::net::Ipv4Addr::LOCALHOST.into(),
        )
        .await
        .expect("login");
    let asst = app.authenticate(&token).await.expect("session");
    assert_eq!(asst.role, Role::Assistant);
    assert_eq!(anne.role, Role::Assistant);

    // Phone booking creates a patient record without login, visible in the history.
    let slots = free(&app, &p).await;
    let booked = app
        .desk_book(
            &asst,
            &p.agenda,
            &p.motive,
            &slots[0],
            DeskPatient::New {
                name: "Marcel",
                phone: "06 12 34 56 78",
                birth_date: None,
            },
            None,
        )
        .await
        .expect("desk book");
    let marcel = booked.patient.clone().expect("patient");
    // The patient's history is patient data: not without a second factor (issue 15).
    assert!(matches!(
        app.desk_history(&asst, &marcel).await,
        Err(AppError::MfaRequired)
    ));
    let enrolment = app.mfa_enrol(&asst).await.expect("enrol");
    let secret =
        careslot_identity::mfa::secret_from_base32(&enrolment.secret).expect("base32 secret");
    app.mfa_confirm(
        &asst,
        &token,
        &common::totp_now(&secret, 0),
        std::net::Ipv4Addr::LOCALHOST.into(),
    )
    .await
    .expect("confirm");
    let asst = app.authenticate(&token).await.expect("session");
    assert!(asst.second_factor);
    let (who, history) = app.desk_history(&asst, &marcel).await.expect("history");
    assert_eq!(who.expect("identity").phone.as_deref(), Some("0612345678"));
    assert_eq!(history.len(), 1);
    let bad_phone = app
        .desk_book(
            &asst,
            &p.agenda,
            &p.motive,
            &slots[1],
            DeskPatient::New {
                name: "X",
                phone: "call me",
                birth_date: None,
            },
            None,
        )
        .await;
    assert!(
        matches!(bad_phone, Err(AppError::Invalid(_))),
        "{bad_phone:?}"
    );
    let taken = app
        .desk_book(
            &asst,
            &p.agenda,
            &p.motive,
            &slots[0],
            DeskPatient::New {
                name: "Y",
                phone: "0600000000",
                birth_date: None,
            },
            None,
        )
        .await;
    assert!(
        matches!(taken, Err(AppError::Conflict(..)) | Err(AppError::Store(_))),
        "{taken:?}"
    );

    // Not the other practitioner's agenda, not the profile, not the team.
    let foreign = app
        .desk_book(
            &asst,
            &other.agenda,
            &other.motive,
            &free(&app, &other).await[0],
            DeskPatient::New {
                name: "Z",
                phone: "0600000001",
                birth_date: None,
            },
            None,
        )
        .await;
    assert!(matches!(foreign, Err(AppError::NotFound(_))), "{foreign:?}");
    assert!(app.desk_history(&asst, &marcel).await.is_ok());
    let (_, none) = app
        .desk_history(&other.caller, &marcel)
        .await
        .expect("other practice");
    assert!(
        none.is_empty(),
        "another practice does not see this patient"
    );
    assert!(matches!(
        app.set_profile(
            &asst,
            ProfileInput {
                name: "x".into(),
                specialty: "dentist".into(),
                languages: vec![],
                bio: None
            }
        )
        .await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        app.invite_assistant(&asst).await,
        Err(AppError::Forbidden(_))
    ));
    assert_eq!(app.assistants(&p.caller).await.expect("team").len(), 1);

    // A no-show is for an appointment that has started.
    let early = app.set_no_show(&asst, booked.row.id.as_str(), true).await;
    assert!(
        matches!(early, Err(AppError::Conflict("not-started", _))),
        "{early:?}"
    );

    // Removal ends the assistant's access.
    app.remove_assistant(&p.caller, asst.id.as_str())
        .await
        .expect("remove");
    assert!(matches!(
        app.authenticate(&token).await,
        Err(AppError::Unauthenticated)
    ));
}

async fn no_show_frees_the_place_and_undo_takes_it_back(backend: Backend) {
    let (app, _loc) = app(backend).await;
    let p = practice(&app, "Dr Noshow").await;
    let slots = free(&app, &p).await;
    let a = app
        .desk_book(
            &p.caller,
            &p.agenda,
            &p.motive,
            &slots[0],
            DeskPatient::New {
                name: "Absent",
                phone: "0600000002",
                birth_date: None,
            },
            None,
        )
        .await
        .expect("book");
    // The store's rule, without waiting for the appointment to start.
    let now = Timestamp::now();
    let row = app
        .store
        .set_no_show(&a.row.id, true, now)
        .await
        .expect("no-show")
        .expect("was booked");
    assert_eq!(row.status, ReservationStatus::NoShow);
    app.agendas.invalidate(&p.agenda);
    assert!(
        free(&app, &p).await.contains(&slots[0]),
        "the place is free again"
    );
    assert!(
        app.store
            .set_no_show(&a.row.id, true, now)
            .await
            .expect("again")
            .is_none(),
        "not booked any more"
    );
    let back = app
        .store
        .set_no_show(&a.row.id, false, now)
        .await
        .expect("undo")
        .expect("was a no-show");
    assert_eq!(back.status, ReservationStatus::Booked);
    app.agendas.invalidate(&p.agenda);
    assert!(!free(&app, &p).await.contains(&slots[0]));

    // Undo cannot double-book: someone else took the place meanwhile.
    app.store
        .set_no_show(&a.row.id, true, now)
        .await
        .expect("no-show")
        .expect("booked");
    app.agendas.invalidate(&p.agenda);
    app.desk_book(
        &p.caller,
        &p.agenda,
        &p.motive,
        &slots[0],
        DeskPatient::New {
            name: "Walk-in",
            phone: "0600000003",
            birth_date: None,
        },
        None,
    )
    .await
    .expect("rebook the freed place");
    assert!(
        app.store.set_no_show(&a.row.id, false, now).await.is_err(),
        "the place is taken"
    );
    let row = app
        .store
        .reservation(&ReservationId(a.row.id.to_string()))
        .await
        .expect("row")
        .expect("row");
    assert_eq!(row.status, ReservationStatus::NoShow);
}

async fn motives_hours_and_absences_are_editable(backend: Backend) {
    let (app, _loc) = app(backend).await;
    let p = practice(&app, "Dr Edit").await;
    let view = app.desk_view(&p.caller, &p.agenda).await.expect("view");
    let rule = view.calendar.rules[0].id.to_string();
    let changed = app
        .update_motive(
            &p.caller,
            &p.agenda,
            &p.motive,
            MotiveChanges {
                name: "Détartrage".into(),
                duration_min: None,
                policy: MotivePolicy {
                    bookable_online: false,
                    ..MotivePolicy::default()
                },
                labels: [("de".to_owned(), "Zahnsteinentfernung".to_owned())].into(),
            },
        )
        .await
        .expect("update");
    assert_eq!(changed.duration.get(), 30, "duration is kept");
    let view = app.desk_view(&p.caller, &p.agenda).await.expect("view");
    assert_eq!(
        app.motive_labels(&view)
            .await
            .expect("labels")
            .values()
            .next()
            .map(String::as_str),
        Some("Détartrage")
    );
    // The German label is kept, sealed, next to the default one.
    let translations = app.motive_translations(&view).await.expect("translations");
    assert_eq!(
        translations
            .values()
            .next()
            .and_then(|t| t.get("de"))
            .map(String::as_str),
        Some("Zahnsteinentfernung")
    );
    // Only the pages' languages.
    let wrong = app
        .update_motive(
            &p.caller,
            &p.agenda,
            &p.motive,
            MotiveChanges {
                name: "Détartrage".into(),
                duration_min: None,
                policy: MotivePolicy::default(),
                labels: [("xx".to_owned(), "Label".to_owned())].into(),
            },
        )
        .await;
    assert!(matches!(wrong, Err(AppError::Invalid(_))), "{wrong:?}");
    let not_online = app
        .slots(SlotQuery {
            agenda_id: p.agenda.as_str(),
            motive_id: &p.motive,
            from: "2030-01-01",
            to: "2030-01-02",
        })
        .await;
    assert!(
        matches!(not_online, Err(AppError::NotFound(_))),
        "no longer bookable online"
    );
    app.update_motive(
        &p.caller,
        &p.agenda,
        &p.motive,
        MotiveChanges {
            name: "Détartrage".into(),
            duration_min: None,
            policy: MotivePolicy::default(),
            labels: Default::default(),
        },
    )
    .await
    .expect("back online");
    let view = app.desk_view(&p.caller, &p.agenda).await.expect("view");
    assert!(
        app.motive_translations(&view)
            .await
            .expect("translations")
            .is_empty(),
        "an edit without labels removes them"
    );
    assert!(!free(&app, &p).await.is_empty());

    let absence = app
        .create_absence(
            &p.caller,
            &p.agenda,
            "2020-01-01T00:00:00Z",
            "2099-01-01T00:00:00Z",
            Some("sabbatical"),
        )
        .await
        .expect("absence");
    assert!(free(&app, &p).await.is_empty(), "closed during the absence");
    app.delete_absence(&p.caller, &p.agenda, absence.id.as_str())
        .await
        .expect("delete absence");
    assert!(!free(&app, &p).await.is_empty());

    let other = practice(&app, "Dr Stranger").await;
    assert!(matches!(
        app.delete_rule(&other.caller, &p.agenda, &rule).await,
        Err(AppError::NotFound(_))
    ));
    app.delete_rule(&p.caller, &p.agenda, &rule)
        .await
        .expect("delete rule");
    assert!(free(&app, &p).await.is_empty(), "no hours, no slots");
    assert!(matches!(
        app.delete_rule(&p.caller, &p.agenda, &rule).await,
        Err(AppError::NotFound(_))
    ));
}

on_both_backends!(
    guest_hold_then_booking_for_a_relative,
    assistants_run_the_agenda_and_nothing_else,
    no_show_frees_the_place_and_undo_takes_it_back,
    motives_hours_and_absences_are_editable,
);
